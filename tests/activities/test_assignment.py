"""The rota activity (`assign_collector`) on the case database: turns by user name within the
team of a role and bucket, inactive and other-bucket users left out, a retried request
answered with the same person, an empty team answered with nobody."""

from __future__ import annotations

from pathlib import Path

import pytest

from activities.case_activities import CollectionActivities
from activities.notify import WebhookNotifier
from activities.store import Store
from contracts import AssignRequest, AssignResult
from migrations.desk_tables import DeskAssignmentRow, DeskUserRow
from migrations.tables import utc_iso
from tests.helpers.databases import rows


@pytest.fixture
def rota(store: Store, tmp_path: Path) -> CollectionActivities:
    now = utc_iso()
    users = [
        ("cy", "agent", "M2", True),
        ("ann", "agent", "", True),
        ("bob", "agent", "M1,M2", True),
        ("abe", "agent", "M2", False),  # inactive
        ("al", "agent", "M1", True),  # another bucket
        ("fay", "field", "M2", True),  # another role
        ("sue", "supervisor", "", True),
    ]
    store.insert_if_absent(
        *[
            DeskUserRow(
                user_name=name, role=role, buckets=buckets, active=active,
                created_at=now, updated_at=now,
            )
            for name, role, buckets, active in users
        ]
    )  # fmt: skip
    return CollectionActivities(store, tmp_path / "evidence", WebhookNotifier({}))


def ask(
    rota: CollectionActivities, loan: str, *, bucket: str = "M2", stage: str = "phone"
) -> AssignResult:
    return rota.assign_collector(
        AssignRequest(
            case_id=f"run-{loan}",
            loan_id=loan,
            bucket=bucket,
            stage=stage,
            request_id=f"run-{loan}:assign:{stage}",
        )
    )


def test_the_rota_takes_turns_among_the_active_agents_of_the_bucket(
    rota: CollectionActivities, store: Store
) -> None:
    picks = [ask(rota, f"L-{n}").user_name for n in range(7)]
    # ann works every bucket, bob M1 and M2, cy M2; abe is inactive, al works M1 only.
    assert picks == ["ann", "bob", "cy", "ann", "bob", "cy", "ann"]
    stored = sorted(rows(store, DeskAssignmentRow), key=lambda row: row.assigned_at)
    assert [row.user_name for row in stored] == picks
    assert {row.team for row in stored} == {"agent:M2"}
    assert {row.assigned_by for row in stored} == {"rota"}
    assert [row.loan_id for row in stored] == [f"L-{n}" for n in range(7)]


def test_a_retried_request_gets_the_same_person_and_takes_no_turn(
    rota: CollectionActivities, store: Store
) -> None:
    first = ask(rota, "L-1")
    assert ask(rota, "L-1") == first == AssignResult("run-L-1:assign:phone", "agent:M2", "ann")
    assert ask(rota, "L-2").user_name == "bob"
    assert ask(rota, "L-1").user_name == "ann"
    assert len(rows(store, DeskAssignmentRow)) == 2


def test_each_team_keeps_its_own_turn(rota: CollectionActivities) -> None:
    assert ask(rota, "L-1").user_name == "ann"
    # M1's agents: al, ann, bob; its rota has not begun.
    assert ask(rota, "L-2", bucket="M1").user_name == "al"
    assert ask(rota, "L-3", bucket="M1").user_name == "ann"
    assert ask(rota, "L-4").user_name == "bob"
    assert ask(rota, "L-5", stage="field_visit") == AssignResult(
        "run-L-5:assign:field_visit", "field:M2", "fay"
    )


def test_an_empty_team_answers_nobody_and_records_nothing(
    rota: CollectionActivities, store: Store
) -> None:
    assert ask(rota, "L-1", bucket="M3", stage="field_visit") == AssignResult(
        "run-L-1:assign:field_visit", "field:M3", None
    )
    assert rows(store, DeskAssignmentRow) == []


def test_a_member_who_leaves_the_team_passes_the_turn_on(
    rota: CollectionActivities, store: Store
) -> None:
    assert [ask(rota, f"L-{n}").user_name for n in range(2)] == ["ann", "bob"]
    store.update(DeskUserRow, "cy", active=False)
    store.update(DeskUserRow, "bob", active=False)
    # bob took the last case and left: the turn goes to the next name after bob (ann, wrapping).
    assert ask(rota, "L-2").user_name == "ann"


def test_a_stage_without_collectors_is_refused(rota: CollectionActivities) -> None:
    with pytest.raises(ValueError, match="reminder"):
        ask(rota, "L-1", stage="reminder")
