"""The `CollectionCase` workflow on the time-skipping test server, with the real activities
on a real SQLite database."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine
from temporalio import activity
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.case_activities import CollectionActivities
from contracts import ContactRequest, ContactResult
from tests.helpers.cases import (
    end_case,
    history_counts,
    patches_recorded,
    rows,
    start_case,
    until_idle,
    written,
)
from tests.helpers.histories import save_history
from tests.helpers.temporal import (
    CaseWorld,
    advance_to_local_time,
    make_worker,
)
from workflows.case_base import ALL_CHANGES_SO_FAR
from workflows.collection_case import CollectionCase

CONTACT_ACTIVITIES = {"send_notice", "queue_call", "book_field_visit", "hand_off_to_legal"}


async def scheduled_activities(handle: WorkflowHandle[Any, Any]) -> list[tuple[str, Any]]:
    """(activity type, decoded input) of every activity the case scheduled, in order."""
    scheduled = []
    async for event in handle.fetch_history_events():
        if event.HasField("activity_task_scheduled_event_attributes"):
            attributes = event.activity_task_scheduled_event_attributes
            payload = json.loads(attributes.input.payloads[0].data)
            scheduled.append((attributes.activity_type.name, payload))
    return scheduled


async def start_input(handle: WorkflowHandle[Any, Any]) -> dict[str, Any]:
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    return dict(json.loads(started.input.payloads[0].data))


async def stage_changes(handle: WorkflowHandle[Any, Any]) -> list[str]:
    """The `CollectionStage` values the case published, in order."""
    stages: list[str] = []
    async for event in handle.fetch_history_events():
        if event.HasField("upsert_workflow_search_attributes_event_attributes"):
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
            stage = fields.indexed_fields.get("CollectionStage")
            if stage is not None and json.loads(stage.data) != (stages[-1] if stages else None):
                stages.append(json.loads(stage.data))
    return stages


@pytest.fixture(params=["sqlite", "postgresql"])
def db_world(
    request: pytest.FixtureRequest, case_world: CaseWorld, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CaseWorld]:
    """The case world on SQLite, or on PostgreSQL through `DATABASE_URL` as deployments set it."""
    if request.param == "sqlite":
        yield case_world
        return
    server_url = os.environ.get("TEST_POSTGRES_URL")
    if not server_url:
        pytest.skip("PostgreSQL tests need TEST_POSTGRES_URL (CI sets it)")
    schema = f"wf_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    database_url = f"{server_url}?options=-csearch_path%3D{schema}"
    monkeypatch.setenv("DATABASE_URL", database_url)
    try:
        yield replace(case_world, database_url=database_url)
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


async def test_unpaid_case_climbs_every_stage_and_is_written_off(
    time_env: WorkflowEnvironment, db_world: CaseWorld
) -> None:
    case_world = db_world
    async with make_worker(time_env.client, case_world):
        handle = await start_case(time_env, case_world, days_overdue=0)
        result = await handle.result()
        await save_history(handle, "unpaid_written_off")

    assert result["status"] == "written_off"
    assert result["stage"] == "closed"
    # A new case takes every change to the workflow at once: one patch marker and one upsert
    # of TemporalChangeVersion in its whole life, not one of each per change it reaches.
    assert await patches_recorded(handle) == ([ALL_CHANGES_SO_FAR], 1)
    # Written off at DPD 180 (then reachable for a year of recovery before it completes).
    assert result["days_past_due"] == 180
    assert result["outstanding_minor"] == 500000
    channels = [contact["channel"] for contact in result["contacts"]]
    assert channels == [
        "sms",
        "email",
        "sms",
        "email",
        # Each call task nobody works expires after its 1-day SLA and is re-queued once.
        "call",
        "call",
        "call",
        "call",
        "call",
        "call",
        "letter",
        "field_visit",
        "field_visit",
        "legal",
    ]

    scheduled = await scheduled_activities(handle)
    assert [name for name, _ in scheduled if name in CONTACT_ACTIVITIES] == [
        "send_notice",
        "send_notice",
        "send_notice",
        "send_notice",
        "queue_call",
        "queue_call",
        "queue_call",
        "queue_call",
        "queue_call",
        "queue_call",
        "send_notice",
        "book_field_visit",
        "book_field_visit",
        "hand_off_to_legal",
    ]
    assert await stage_changes(handle) == [
        "grace",
        "reminder",
        "phone",
        "field_visit",
        "legal",
        "closed",
    ]

    # Legal by day 61 in the borrower's calendar, and every contact inside 08:00-21:00 there.
    due = date.fromisoformat((await start_input(handle))["due_date"])
    shanghai = ZoneInfo("Asia/Shanghai")
    legal_at = datetime.fromisoformat(result["contacts"][-1]["at"]).astimezone(shanghai)
    assert (legal_at.date() - due).days == 61
    closed_at = datetime.fromisoformat(result["closed_at"]).astimezone(shanghai)
    assert (closed_at.date() - due).days == 180
    for contact in result["contacts"][:-1]:
        local = datetime.fromisoformat(contact["at"]).astimezone(shanghai)
        assert 8 <= local.hour < 21, contact

    # The case sleeps until something is due: no daily wake-ups.
    counts = await history_counts(handle)
    # About 250 (246 unloaded); how many bookkeeping batches the writer needs varies with the
    # worker's speed, a few events either way. With nobody on the desk, the rota is asked for
    # each team the case passes through (agents of M1 and M2, field collectors of M2 and M3):
    # 4 asks of 6 events and the patch marker, 25 more (276 unloaded).
    assert counts["total"] <= 305, counts
    assert counts["EVENT_TYPE_TIMER_STARTED"] <= 20, counts

    # Every step left its row: the outbox, the agents' queue, the visits and the evidence.
    assert len(rows(case_world, "select attempt_id from contact_attempts")) == 14
    # Call tasks nobody worked expired; closing the case cancelled the visits.
    assert rows(case_world, "select distinct status from work_items") == [("expired",)]
    visits = rows(case_world, "select staff_count, status from field_visits")
    assert visits == [(2, "cancelled"), (2, "cancelled")]
    manifest = json.loads(
        (case_world.evidence_dir / result["loan_id"] / "manifest.json").read_text()
    )
    assert manifest
    case_row = rows(case_world, "select status, stage, closed_at from cases")
    assert case_row[0][0] == "written_off" and case_row[0][1] == "closed" and case_row[0][2]
    # The case's balance by part, as its status shows it, in its row and in the evidence.
    parts = {key: value for key, value in result["balance"].items() if key != "as_of"}
    balance_row = rows(
        case_world,
        "select principal_minor, interest_minor, fees_minor, penalty_minor, balance_as_of "
        "from cases",
    )
    part_names = ("principal_minor", "interest_minor", "fees_minor", "penalty_minor")
    assert dict(zip(part_names, balance_row[0][:4], strict=True)) == parts and balance_row[0][4]
    evidence = json.loads((case_world.evidence_dir / result["loan_id"] / "case.json").read_text())
    assert evidence["at_hand_off"]["balance"] == parts
    skipped = rows(case_world, "select count(*) from case_events where kind = 'step_skipped'")
    assert skipped == [(0,)]
    # The audit log ends with the case's completion, after its year of recovery.
    last = rows(case_world, "select kind, ref_id from case_events order by at desc limit 1")
    assert last == [("completed", "written_off")]

    description = await handle.describe()
    attributes = {pair.key.name: pair.value for pair in description.typed_search_attributes}
    assert attributes["CollectionStatus"] == "written_off"
    assert attributes["CollectionBucket"] == "M4+"
    assert attributes["DueDate"].date() == due
    assert "DaysPastDue" not in attributes


async def test_paid_after_first_sms(time_env: WorkflowEnvironment, case_world: CaseWorld) -> None:
    async with make_worker(time_env.client, case_world):
        handle = await start_case(time_env, case_world, days_overdue=1)
        await time_env.sleep(timedelta(days=3))
        status = await handle.query(CollectionCase.status)
        assert [c["channel"] for c in status["contacts"]] == ["sms"]
        assert status["stage"] == "reminder"
        payment = {"payment_id": "pay-1", "amount_minor": 500000, "currency": "CNY"}
        answer = await handle.execute_update(
            CollectionCase.record_payment, {**payment, "source": "bank"}
        )
        result = await handle.result()
        await save_history(handle, "paid_after_first_sms")

    assert answer == {
        "payment_id": "pay-1",
        "applied": True,
        "duplicate": False,
        "outstanding_minor": 0,
        "overpaid_minor": 0,
        "status": "paid",
        # Without parts, the whole debt is principal.
        "allocation": {
            "principal_minor": 500000,
            "interest_minor": 0,
            "fees_minor": 0,
            "penalty_minor": 0,
        },
    }
    assert result["status"] == "paid" and result["stage"] == "closed"
    assert [c["channel"] for c in result["contacts"]] == ["sms"]
    assert rows(case_world, "select payment_id, amount_minor, status from payments") == [
        ("pay-1", 500000, "applied")
    ]
    counts = await history_counts(handle)
    assert counts["total"] <= 60, counts


async def test_a_closed_case_lingers_and_answers_retried_and_late_payments(
    time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    async with make_worker(time_env.client, case_world):
        handle = await start_case(time_env, case_world, days_overdue=20)
        await until_idle(handle)  # its first contact settled before a payment (see `until_idle`)
        payment = {"payment_id": "pay-1", "amount_minor": 500000, "currency": "CNY"}
        answer = await handle.execute_update(CollectionCase.record_payment, payment)
        await time_env.sleep(timedelta(days=10))
        retried = await handle.execute_update(CollectionCase.record_payment, payment)
        late = await handle.execute_update(
            CollectionCase.record_payment, {**payment, "payment_id": "pay-2", "amount_minor": 700}
        )
        result = await handle.result()
        description = await handle.describe()

    assert retried == {**answer, "duplicate": True}
    assert late["applied"] is True and late["overpaid_minor"] == 700 and late["status"] == "paid"
    assert result["overpaid_minor"] == 700 and result["status"] == "paid"
    assert rows(case_world, "select payment_id, amount_minor, status from payments") == [
        ("pay-1", 500000, "applied"),
        ("pay-2", 700, "applied"),
    ]
    # It completed 30 days after it closed, not before.
    assert description.close_time is not None
    closed_at = datetime.fromisoformat(result["closed_at"])
    assert description.close_time - closed_at >= timedelta(days=30)


async def test_partial_then_full_payment_with_duplicates(
    time_env: WorkflowEnvironment, db_world: CaseWorld
) -> None:
    case_world = db_world
    async with make_worker(time_env.client, case_world):
        handle = await start_case(time_env, case_world, days_overdue=20)
        await until_idle(handle)  # its first contact settled before a payment (see `until_idle`)
        part = {"payment_id": "p-1", "amount_minor": 200000, "currency": "CNY"}
        first = await handle.execute_update(CollectionCase.record_payment, part)
        again = await handle.execute_update(CollectionCase.record_payment, part)
        await handle.signal("payment_received", part)
        status = await handle.query(CollectionCase.status)
        assert first["outstanding_minor"] == 300000 and first["duplicate"] is False
        assert again == {**first, "duplicate": True}
        assert status["outstanding_minor"] == 300000 and status["paid_minor"] == 200000
        assert status["status"] == "active"
        # The rest and 100.00 more arrive by signal, twice: applied once, excess reported.
        rest = {"payment_id": "p-2", "amount_minor": 310000, "currency": "CNY"}
        await handle.signal("payment_received", rest)
        await handle.signal("payment_received", rest)
        result = await handle.result()
        await save_history(handle, "payments_by_signal")

    assert result["status"] == "paid"
    assert result["paid_minor"] == 500000
    assert result["overpaid_minor"] == 10000
    assert [p["payment_id"] for p in result["payments"]] == ["p-1", "p-2"]
    stored = rows(
        case_world,
        "select payment_id, applied_minor, overpaid_minor from payments order by payment_id",
    )
    assert stored == [("p-1", 200000, 0), ("p-2", 300000, 10000)]


async def test_invalid_payment_is_rejected_and_nothing_recorded(
    own_time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    async with make_worker(own_time_env.client, case_world):
        handle = await start_case(own_time_env, case_world)
        for bad, field in [
            ({"payment_id": "x-1", "amount_minor": 100, "currency": "USD"}, "currency"),
            ({"payment_id": "x-2", "amount_minor": -1, "currency": "CNY"}, "amount_minor"),
            ({"amount_minor": 100, "currency": "CNY"}, "payment_id"),
        ]:
            with pytest.raises(WorkflowUpdateFailedError) as caught:
                await handle.execute_update(CollectionCase.record_payment, bad)
            cause = caught.value.cause
            assert isinstance(cause, ApplicationError)
            assert cause.type == "InvalidPayment"
            assert field in cause.message
        status = await handle.query(CollectionCase.status)
        assert status["outstanding_minor"] == 500000 and status["payments"] == []
        assert rows(case_world, "select record_id from payments") == []

        # An invalid signal cannot be refused, so it is kept with its reason.
        await handle.signal("payment_received", {"payment_id": "x-3", "amount_minor": "lots"})
        status = await handle.query(CollectionCase.status)
        assert status["outstanding_minor"] == 500000
        assert status["rejected_payments"] == [
            {
                "payment_id": "x-3",
                "reason": "amount_minor: must be an integer amount in minor units",
            }
        ]
        # Its row is written beside the case: a case terminated first would never write it.
        await written(case_world, "select count(*) from payments", 1)
        await end_case(handle)
    assert rows(case_world, "select payment_id, status from payments") == [("x-3", "rejected")]


async def test_hold_stops_contacts_while_dpd_keeps_counting(
    own_time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    async with make_worker(own_time_env.client, case_world):
        handle = await start_case(own_time_env, case_world, days_overdue=1)
        hold = {"hold_id": "h-1", "kind": "dispute", "reason": "borrower says it was paid"}
        assert (await handle.execute_update(CollectionCase.place_hold, hold))["status"] == "on_hold"
        await own_time_env.sleep(timedelta(days=20))
        status = await handle.query(CollectionCase.status)
        assert status["contacts"] == []
        assert status["status"] == "on_hold"
        with pytest.raises(WorkflowUpdateFailedError) as caught:
            await handle.execute_update(CollectionCase.release_hold, {"hold_id": "nope"})
        assert isinstance(caught.value.cause, ApplicationError)
        assert caught.value.cause.type == "InvalidHold"
        released = await handle.execute_update(CollectionCase.release_hold, {"hold_id": "h-1"})
        assert released["status"] == "active"
        assert (await handle.query(CollectionCase.status))["days_past_due"] >= 20
        await own_time_env.sleep(timedelta(days=1))
        status = await handle.query(CollectionCase.status)
        # Released at DPD ~21: the case catches up with one call, not a burst of reminders.
        assert [c["channel"] for c in status["contacts"]] == ["call"]
        await save_history(handle, "hold_and_release")
        await end_case(handle)


async def test_agent_outcomes_and_dispute(
    own_time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    async with make_worker(own_time_env.client, case_world):
        handle = await start_case(own_time_env, case_world, days_overdue=14)
        await own_time_env.sleep(timedelta(days=1))
        status = await handle.query(CollectionCase.status)
        call = status["contacts"][-1]
        assert call["channel"] == "call" and call["result"] == "queued"
        with pytest.raises(WorkflowUpdateFailedError) as caught:
            await handle.execute_update(
                CollectionCase.record_contact_outcome, {"attempt_id": "nope", "outcome": "reached"}
            )
        assert isinstance(caught.value.cause, ApplicationError)
        assert caught.value.cause.type == "InvalidOutcome"
        answer = await handle.execute_update(
            CollectionCase.record_contact_outcome,
            {
                "attempt_id": call["attempt_id"],
                "outcome": "disputed",
                "note": "says never borrowed",
            },
        )
        assert answer == {"attempt_id": call["attempt_id"], "recorded": True, "status": "on_hold"}
        status = await handle.query(CollectionCase.status)
        assert status["contacts"][-1]["result"] == "disputed"
        assert [h["kind"] for h in status["holds"]] == ["dispute"]
        await save_history(handle, "agent_outcome_dispute")
        await end_case(handle)
    assert rows(case_world, "select status, outcome from work_items") == [("done", "disputed")]


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"currency": "yuan"}, "currency"), ({"policy": "nonexistent"}, "policy")],
)
async def test_invalid_start_fails_with_invalid_case(
    time_env: WorkflowEnvironment, case_world: CaseWorld, changes: dict[str, Any], field: str
) -> None:
    async with make_worker(time_env.client, case_world):
        handle = await start_case(time_env, case_world, **changes)
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "InvalidCase"
    assert field in cause.message
    assert [name for name, _ in await scheduled_activities(handle)] in ([], ["prepare_case"])
    assert rows(case_world, "select count(*) from contact_attempts")[0][0] == 0


async def test_signals_of_any_shape_are_kept_as_rejections_and_never_stall_the_case(
    time_env: WorkflowEnvironment, db_world: CaseWorld
) -> None:
    case_world = db_world
    absurd_id = "p" * 300
    async with make_worker(time_env.client, case_world):
        handle = await start_case(time_env, case_world, days_overdue=20)
        await until_idle(handle)  # its first contact settled before a payment (see `until_idle`)
        paid = {"payment_id": "p-1", "amount_minor": 1000, "currency": "CNY"}
        await handle.execute_update(CollectionCase.record_payment, paid)
        await handle.signal("payment_received", args=[])
        await handle.signal("payment_received", args=[paid, paid])
        await handle.signal("payment_received", "not an object")
        await handle.signal("payment_received", None)
        await handle.signal("payment_received", {**paid, "amount_minor": 999})
        await handle.signal("payment_received", {**paid, "payment_id": absurd_id, "currency": "X"})
        await handle.signal("payment_received", {**paid, "amount_minor": 10**23})
        # Installment plans are not taken yet: a plan signal is kept, with the reason.
        await handle.signal("plan_received", {"plan_id": "plan-1", "installments": []})
        # The case still answers, and takes the next valid payment.
        answer = await handle.execute_update(
            CollectionCase.record_payment, {**paid, "payment_id": "p-2"}
        )
        status = await handle.query(CollectionCase.status)
        await written(case_world, "select count(*) from payments where status = 'rejected'", 7)
        await end_case(handle)

    assert answer["outstanding_minor"] == 498000
    reasons = [entry["reason"] for entry in status["rejected_payments"]]
    assert len(reasons) == 7
    assert reasons[:2] == [
        "payment: takes one argument, got 0",
        "payment: takes one argument, got 2",
    ]
    assert reasons[2].startswith("payment:") and reasons[3].startswith("payment:")
    assert "different payment" in reasons[4]
    assert reasons[5].startswith("payment_id: must be at most 128")
    assert reasons[6].startswith("amount_minor:")
    stored_ids = [entry["payment_id"] for entry in status["rejected_payments"]]
    assert stored_ids[4] == "p-1"
    assert stored_ids[5] is not None and len(stored_ids[5]) <= 128
    rejected = rows(case_world, "select payment_id from payments where status = 'rejected'")
    assert len(rejected) == 7
    assert status["paid_minor"] == 2000
    assert status["rejected_plans"] == [
        {"plan_id": "plan-1", "reason": "installments: must be a non-empty list"}
    ]


async def test_conflicting_payment_id_is_rejected_on_every_path(
    own_time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    async with make_worker(own_time_env.client, case_world):
        handle = await start_case(own_time_env, case_world, days_overdue=20)
        await until_idle(handle)  # its first contact settled before a payment (see `until_idle`)
        paid = {"payment_id": "p-1", "amount_minor": 1000, "currency": "CNY"}
        await handle.execute_update(CollectionCase.record_payment, paid)
        with pytest.raises(WorkflowUpdateFailedError) as caught:
            await handle.execute_update(
                CollectionCase.record_payment, {**paid, "amount_minor": 2000}
            )
        cause = caught.value.cause
        assert isinstance(cause, ApplicationError) and cause.type == "InvalidPayment"
        assert cause.message.startswith("payment_id:") and "different payment" in cause.message
        hold = {"hold_id": "h-1", "kind": "complaint", "reason": "called at work"}
        # The hold cancels a contact still to start; on the test server that cancellation may
        # meet the contact's own completion and stall the case (see `until_idle`).
        await until_idle(handle)
        await handle.execute_update(CollectionCase.place_hold, hold)
        with pytest.raises(WorkflowUpdateFailedError) as caught:
            await handle.execute_update(CollectionCase.place_hold, {**hold, "kind": "dispute"})
        assert isinstance(caught.value.cause, ApplicationError)
        assert caught.value.cause.type == "InvalidHold"
        status = await handle.query(CollectionCase.status)
        await end_case(handle)
    assert status["paid_minor"] == 1000
    assert [hold["kind"] for hold in status["holds"]] == ["complaint"]


async def test_write_off_then_recovery_is_recorded(
    own_time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    async with make_worker(own_time_env.client, case_world):
        handle = await start_case(own_time_env, case_world, days_overdue=185)
        await own_time_env.sleep(timedelta(days=1))
        status = await handle.query(CollectionCase.status)
        assert status["status"] == "written_off"
        answer = await handle.execute_update(
            CollectionCase.record_payment,
            {"payment_id": "late-1", "amount_minor": 100000, "currency": "CNY"},
        )
        result = await handle.result()
    assert answer["applied"] is True and answer["status"] == "written_off"
    assert answer["outstanding_minor"] == 400000
    assert result["recovered_minor"] == 100000
    assert result["payments"][0]["recovery"] is True
    # A case opened past write-off is written off, never contacted.
    assert result["contacts"] == []


async def test_legal_events_and_open_work_follow_holds(
    own_time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    async with make_worker(own_time_env.client, case_world):
        handle = await start_case(own_time_env, case_world, days_overdue=61)
        await own_time_env.sleep(timedelta(days=1))
        status = await handle.query(CollectionCase.status)
        assert [c["channel"] for c in status["contacts"]] == ["legal"]
        filed = await handle.execute_update(
            CollectionCase.record_legal_event, {"event_id": "court-1", "event": "filed"}
        )
        assert filed == {"event_id": "court-1", "recorded": True, "status": "active"}
        status = await handle.query(CollectionCase.status)
        assert status["legal"]["stage"] == "filed"
        assert [e["event"] for e in status["legal"]["events"]] == ["filed"]
        # An impossible move is refused: no judgment before a hearing.
        with pytest.raises(WorkflowUpdateFailedError) as caught:
            await handle.execute_update(
                CollectionCase.record_legal_event, {"event_id": "court-2", "event": "judgment"}
            )
        assert isinstance(caught.value.cause, ApplicationError)
        assert caught.value.cause.type == "InvalidLegalEvent"
        assert "cannot follow filed" in caught.value.cause.message
        # Paid in full during legal: the case ends paid and the file is recalled.
        paid = await handle.execute_update(
            CollectionCase.record_payment,
            {"payment_id": "pay-1", "amount_minor": 500000, "currency": "CNY"},
        )
        status = await handle.query(CollectionCase.status)
        await written(case_world, "select count(*) from case_events where kind = 'closed'", 1)
        await save_history(handle, "legal_event")
        await end_case(handle)
    assert paid["status"] == "paid"
    assert status["legal"]["stage"] == "withdrawn"
    recall = json.loads((case_world.evidence_dir / status["loan_id"] / "RECALLED.json").read_text())
    assert recall["reason"] == "case closed paid"


async def test_a_hold_suspends_open_call_tasks_and_a_release_brings_them_back(
    own_time_env_from_night_or_day: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    own_time_env = own_time_env_from_night_or_day
    async with make_worker(own_time_env.client, case_world):
        # Inside the contact window: the call task of DPD 14 is queued at once.
        await advance_to_local_time(own_time_env, time(10, 0))
        handle = await start_case(own_time_env, case_world, days_overdue=14)
        await own_time_env.sleep(timedelta(hours=2))
        assert rows(case_world, "select status from work_items") == [("open",)]
        hold = {"hold_id": "h-1", "kind": "complaint", "reason": "complained to the regulator"}
        await handle.execute_update(CollectionCase.place_hold, hold)
        await own_time_env.sleep(timedelta(minutes=10))
        assert rows(case_world, "select status from work_items") == [("suspended",)]
        await handle.execute_update(CollectionCase.release_hold, {"hold_id": "h-1"})
        await own_time_env.sleep(timedelta(minutes=10))
        assert rows(case_world, "select status from work_items") == [("open",)]
        await end_case(handle)


async def test_a_reminder_retried_until_the_window_closes_is_sent_next_morning_not_late(
    own_time_env_from_night_or_day: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    """A provider down all evening: the reminder's retries stop when the contact window closes
    at 21:00, and the step is decided again for 08:00 the next day."""
    env = own_time_env_from_night_or_day
    shanghai = ZoneInfo("Asia/Shanghai")
    attempts: list[datetime] = []
    first_day: list[date] = []

    @activity.defn(name="send_notice")
    async def send_notice(request: ContactRequest) -> ContactResult:
        at = activity.info().current_attempt_scheduled_time.astimezone(shanghai)
        attempts.append(at)
        first_day[:] = first_day or [at.date()]
        if at.date() == first_day[0]:
            raise ApplicationError("provider answered 503")
        return ContactResult(attempt_id=request.attempt_id, result="sent")

    real = CollectionActivities.from_env()
    kept = [a for a in real.all() if getattr(a, "__name__", "") != "send_notice"]
    async with Worker(
        env.client,
        task_queue=case_world.task_queue,
        workflows=[CollectionCase],
        activities=[*kept, send_notice],
        activity_executor=ThreadPoolExecutor(4),
    ):
        await advance_to_local_time(env, time(20, 50))
        handle = await start_case(env, case_world, days_overdue=3)
        await env.sleep(timedelta(hours=14))
        status = await handle.query(CollectionCase.status)
        await written(
            case_world, "select count(*) from case_events where kind = 'contact_not_sent'", 1
        )
        await end_case(handle)

    assert len(attempts) > 2
    evening_attempts = [at for at in attempts if at.date() == first_day[0]]
    assert all(at.hour == 20 for at in evening_attempts), evening_attempts
    sms = [c for c in status["contacts"] if c["channel"] == "sms"]
    assert len(sms) == 1
    sent_at = datetime.fromisoformat(sms[0]["at"]).astimezone(shanghai)
    assert (sent_at.hour, sent_at.minute) == (8, 0) and sent_at.date() > first_day[0]
    why = rows(case_world, "select detail from case_events where kind = 'contact_not_sent'")
    assert "window closed" in why[0][0]
