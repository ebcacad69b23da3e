"""The parent's rules for its worker processes: when a child is started again, and each child's
environment. The processes themselves: tests/e2e/test_worker_processes.py."""

from __future__ import annotations

import os

import pytest

from runtime.worker_processes import (
    Restart,
    RestartPolicy,
    child_environment,
    count_from_env,
)

POLICY = RestartPolicy(start_window=30, max_start_failures=3, first_delay=1, max_delay=30)
NOT_READY = frozenset({3, 4})


def test_a_child_that_fails_at_start_is_started_again_later_each_time_then_given_up() -> None:
    first = POLICY.after(1, ran=2.0, start_failures=0, fatal=NOT_READY)
    second = POLICY.after(1, ran=2.0, start_failures=first.start_failures, fatal=NOT_READY)
    third = POLICY.after(1, ran=2.0, start_failures=second.start_failures, fatal=NOT_READY)
    assert (first, second) == (Restart(False, 1.0, 1), Restart(False, 2.0, 2))
    assert third.give_up and third.start_failures == 3


def test_a_child_that_ran_a_while_is_started_again_at_once_and_its_count_starts_over() -> None:
    killed = POLICY.after(137, ran=3600.0, start_failures=2, fatal=NOT_READY)
    assert killed == Restart(give_up=False, delay=1.0, start_failures=0)


def test_the_back_off_stops_growing_at_its_maximum() -> None:
    patient = RestartPolicy(max_start_failures=100, first_delay=1, max_delay=30)
    assert patient.after(1, ran=0.5, start_failures=10, fatal=()).delay == 30


@pytest.mark.parametrize("status", sorted(NOT_READY))
def test_a_child_that_says_the_operator_must_act_is_not_started_again(status: int) -> None:
    assert POLICY.after(status, ran=3600.0, start_failures=0, fatal=NOT_READY).give_up


def test_each_child_is_one_worker_on_its_own_metrics_port() -> None:
    parent = {"METRICS_PORT": "9464", "WORKER_PROCESSES": "4", "TEMPORAL_ADDRESS": "t:7233"}
    children = [child_environment(parent, index, 4) for index in range(4)]
    assert [c["METRICS_PORT"] for c in children] == ["9464", "9465", "9466", "9467"]
    assert {c["WORKER_PROCESSES"] for c in children} == {"1"}
    assert [c["WORKER_PROCESS_INDEX"] for c in children] == ["0", "1", "2", "3"]
    assert {c["WORKER_PARENT_PID"] for c in children} == {str(os.getpid())}
    assert {c["TEMPORAL_ADDRESS"] for c in children} == {"t:7233"}
    assert "METRICS_PORT" not in child_environment({}, 0, 4)
    # Not a port at all: passed on, for the child to refuse by name.
    assert child_environment({"METRICS_PORT": "x"}, 1, 2)["METRICS_PORT"] == "x"


def test_metrics_ports_beyond_the_last_port_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"^METRICS_PORT: 3 worker processes .* 65536, beyond"):
        child_environment({"METRICS_PORT": "65534"}, 0, 3)


def test_the_number_of_processes_defaults_to_the_cores_and_refuses_a_bad_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WORKER_PROCESSES", raising=False)
    monkeypatch.setattr("runtime.worker_processes.available_cores", lambda: 6)
    assert count_from_env() == 6
    monkeypatch.setenv("WORKER_PROCESSES", "1")
    assert count_from_env() == 1
    monkeypatch.setenv("WORKER_PROCESSES", "0")
    with pytest.raises(ValueError, match=r"^WORKER_PROCESSES: must be a whole number"):
        count_from_env()
