"""The worker's tuning from the environment, on the time-skipping test server's client."""

from __future__ import annotations

import pytest
from temporalio.testing import WorkflowEnvironment

import worker
from tests.helpers.temporal import CaseWorld


async def test_worker_tuning_comes_from_the_environment(
    time_env: WorkflowEnvironment, case_world: CaseWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKER_ACTIVITY_THREADS", "3")
    monkeypatch.setenv("WORKER_WORKFLOW_POLLERS", "2")
    monkeypatch.setenv("WORKER_CACHED_CASES", "50")
    config = worker.create_worker(time_env.client).config()
    assert config["max_concurrent_activities"] == 3
    assert config["max_concurrent_workflow_task_polls"] == 2
    assert config["max_cached_workflows"] == 50
    monkeypatch.setenv("WORKER_WORKFLOW_TASKS", "lots")
    with pytest.raises(ValueError, match=r"^WORKER_WORKFLOW_TASKS: must be a whole number"):
        worker.create_worker(time_env.client)


async def test_new_cases_are_polled_for_as_often_as_the_cases_a_process_holds(
    time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    # With the SDK's 0.2 of 5, one poller fetched new cases: an import of a thousand then
    # waited behind the steps of the cases already open (make bench, issue 19). Now four do,
    # and the cases a process holds keep the four they had.
    config = worker.create_worker(time_env.client).config()
    polls = config["max_concurrent_workflow_task_polls"]
    assert polls is not None
    new_case_polls = int(polls * config["nonsticky_to_sticky_poll_ratio"])
    assert (new_case_polls, polls - new_case_polls) == (4, 4)
