"""The responsible collector: the rota's rule, the supervisor's message, and the case's state
(who is assigned, when the rota is asked, the audit line, `status.assignee`, carried state)."""

from __future__ import annotations

import base64
import json
import zlib
from datetime import UTC, datetime

import pytest

from domain.assignment import (
    next_in_rota,
    parse_assignment,
    role_of_stage,
    team_key,
    works_bucket,
)
from domain.audit import AuditFact, AuditKind
from domain.case import parse_case_input
from domain.case_state import CaseState
from domain.errors import InvalidInput

OPENED = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)


def new_case() -> tuple[CaseState, None]:
    case = parse_case_input(
        {
            "loan_id": "L-1",
            "borrower": {"borrower_id": "B-1", "timezone": "Asia/Shanghai"},
            "currency": "CNY",
            "overdue_amount_minor": 500000,
            "due_date": "2026-03-01",
        },
        now=OPENED,
    )
    return CaseState(case), None


TEAM = ["cy", "ann", "bob"]


# -- the rota ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("last", "expected"),
    [(None, "ann"), ("ann", "bob"), ("bob", "cy"), ("cy", "ann"), ("bea", "bob"), ("zed", "ann")],
)
def test_the_next_in_rota_follows_the_last_by_name_and_wraps(
    last: str | None, expected: str
) -> None:
    assert next_in_rota(TEAM, last) == expected


def test_an_empty_team_has_nobody_and_a_team_of_one_always_itself() -> None:
    assert next_in_rota([], None) is None
    assert next_in_rota([], "ann") is None
    assert next_in_rota(["ann"], "ann") == "ann"
    assert next_in_rota(["ann", "ann"], None) == "ann"


def test_a_three_member_rota_takes_turns() -> None:
    picks: list[str] = []
    last = None
    for _ in range(7):
        last = next_in_rota(TEAM, last)
        assert last is not None
        picks.append(last)
    assert picks == ["ann", "bob", "cy", "ann", "bob", "cy", "ann"]


def test_buckets_and_team_keys() -> None:
    assert works_bucket("", "M3")
    assert works_bucket("M1, M2", "M2")
    assert not works_bucket("M1,M2", "M3")
    assert team_key("agent", "M2") == "agent:M2"
    assert [role_of_stage(s) for s in ("reminder", "phone", "field_visit", "legal")] == [
        "agent",
        "agent",
        "field",
        "field",
    ]


# -- the supervisor's message --------------------------------------------------------
def test_an_assignment_message_is_read_with_every_field() -> None:
    request = parse_assignment({"message_id": "m-1", "user_name": "ann", "source": "sue"})
    assert (request.message_id, request.user_name, request.source) == ("m-1", "ann", "sue")


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("ann", "assignment"),
        ({"user_name": "ann", "source": "sue"}, "message_id"),
        ({"message_id": "m-1", "source": "sue"}, "user_name"),
        ({"message_id": "m-1", "user_name": " ann", "source": "sue"}, "user_name"),
        ({"message_id": "m-1", "user_name": "a" * 65, "source": "sue"}, "user_name"),
        ({"message_id": "m-1", "user_name": 7, "source": "sue"}, "user_name"),
        ({"message_id": "m-1", "user_name": "ann"}, "source"),
    ],
)
def test_a_malformed_assignment_names_its_field(raw: object, field: str) -> None:
    with pytest.raises(InvalidInput) as error:
        parse_assignment(raw)
    assert error.value.field == field


# -- the case's state ----------------------------------------------------------------
def assigned_facts(state: CaseState) -> list[AuditFact]:
    return [f for f in state.journal if isinstance(f, AuditFact) and f.kind == AuditKind.ASSIGNED]


def test_a_case_asks_the_rota_once_per_role_in_phone_and_field_stages() -> None:
    state, _ = new_case()
    assert state.assignment_due("M1") is None  # preparation: nobody yet
    state.stage = "reminder"
    assert state.assignment_due("M1") is None
    state.stage = "phone"
    assert state.assignment_due("M1") == ("agent", "agent:M1")
    assert state.assign_by_rota("agent", "agent:M1", "ann")
    assert state.assignment_due("M1") is None
    assert state.status_view(10)["assignee"] == "ann"
    [fact] = assigned_facts(state)
    assert fact.ref_id == "rota:agent"
    assert fact.detail == {
        "user_name": "ann",
        "assigned_by": "rota",
        "role": "agent",
        "stage": "phone",
        "team": "agent:M1",
    }
    state.stage = "field_visit"
    assert state.assignment_due("M2") == ("field", "field:M2")


def test_an_empty_team_leaves_the_case_unassigned_until_its_bucket_moves() -> None:
    state, _ = new_case()
    state.stage = "phone"
    assert not state.assign_by_rota("agent", "agent:M1", None)
    assert state.assignee is None and state.status_view(10)["assignee"] is None
    assert state.assignment_due("M1") is None
    assert state.assignment_due("M2") == ("agent", "agent:M2")
    assert not assigned_facts(state)


def test_a_supervisor_assignment_wins_over_a_late_rota_pick_and_is_idempotent() -> None:
    state, _ = new_case()
    state.stage = "phone"
    request = parse_assignment({"message_id": "m-1", "user_name": "bob", "source": "sue"})
    answer = state.take_assignment(request)
    assert answer == {"message_id": "m-1", "user_name": "bob", "previous": None, "status": "active"}
    assert state.take_assignment(request) == answer
    # The rota's answer arrives after the supervisor's choice: it is not taken.
    assert not state.assign_by_rota("agent", "agent:M1", "ann")
    assert state.assignee == "bob" and state.assignees == {"agent": "bob"}
    [fact] = assigned_facts(state)
    assert (fact.ref_id, fact.detail["assigned_by"]) == ("m-1", "sue")
    other = parse_assignment({"message_id": "m-1", "user_name": "cy", "source": "sue"})
    with pytest.raises(InvalidInput, match="already used") as error:
        state.check_assignment(other)
    assert error.value.field == "message_id"


def test_a_closed_case_takes_no_new_assignment() -> None:
    state, _ = new_case()
    state.close("cancelled", OPENED)
    request = parse_assignment({"message_id": "m-2", "user_name": "bob", "source": "sue"})
    with pytest.raises(InvalidInput, match="closed"):
        state.check_assignment(request)
    state.stage = "phone"
    assert state.assignment_due("M1") is None


def test_the_assignee_is_carried_over_and_an_older_state_decodes_without_it() -> None:
    state, _ = new_case()
    state.stage = "phone"
    state.assign_by_rota("agent", "agent:M1", "ann")
    restored = CaseState.restored(state.carried())
    assert restored.assignee == "ann" and restored.assignees == {"agent": "ann"}
    # A state carried by a run before assignments existed has none of the three fields.
    old = json.loads(zlib.decompress(base64.b64decode(new_case()[0].carried())))
    for name in ("assignee", "assignees", "unstaffed_teams"):
        del old[name]
    carried = base64.b64encode(zlib.compress(json.dumps(old).encode())).decode("ascii")
    older = CaseState.restored(carried)
    assert older.assignee is None and older.assignees == {} and older.unstaffed_teams == []
    assert older.status_view(0)["assignee"] is None
