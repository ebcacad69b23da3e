"""Call tasks with an SLA and what agents' outcomes do, in whole cases on the time-skipping
server, and as rules."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from tests.helpers.cases import (
    case_today,
    end_case,
    rows,
    rows_when,
    start_case,
    status_of,
    status_when,
)
from tests.helpers.temporal import CaseWorld, advance_to_local_time, make_worker
from workflows.collection_case import CollectionCase

SHANGHAI = ZoneInfo("Asia/Shanghai")
# The cases of these tests open at 10:00 in Shanghai, inside the contact window: a call task or
# field visit due at once is queued at once, and an agent can work it in the hours after.
OPEN_AT = time(10, 0)


async def work_items(world: CaseWorld, expected: int) -> list[tuple[str, str]]:
    """(work item id, status) of the case's call tasks, once `expected` of them exist."""
    found = await rows_when(world, "select work_item_id, status from work_items", expected)
    return sorted((str(item_id), str(status)) for item_id, status in found)


async def test_a_call_task_with_no_outcome_expires_and_is_requeued_once(
    own_time_env_from_night_or_day: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    env = own_time_env_from_night_or_day
    async with make_worker(env.client, case_world):
        await advance_to_local_time(env, OPEN_AT)
        handle = await start_case(env, case_world, days_overdue=15)
        # Past the call task's SLA (re-queued), the re-queued one's, and the next call (DPD 21)
        # at whose wake the case marks the re-queued one expired.
        await env.sleep(timedelta(days=7))
        status = await status_of(handle)
        items = await work_items(case_world, 3)
        await end_case(handle)
    calls = [c["attempt_id"] for c in status["contacts"] if c["channel"] == "call"]
    assert calls[1] == calls[0] + ".r1"
    # The first expired and came back once; the re-queued one expired too (limit 1).
    assert dict(items)[calls[0]] == "expired" and dict(items)[calls[1]] == "expired"


async def test_a_promised_call_expects_a_promise_within_the_sla(
    own_time_env_from_night_or_day: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    env = own_time_env_from_night_or_day
    async with make_worker(env.client, case_world):
        await advance_to_local_time(env, OPEN_AT)
        kept = await start_case(env, case_world, days_overdue=15)
        forgotten = await start_case(env, case_world, days_overdue=15)
        await env.sleep(timedelta(hours=2))
        for handle in (kept, forgotten):
            call = (await status_of(handle))["contacts"][-1]
            await handle.execute_update(
                CollectionCase.record_contact_outcome,
                {"attempt_id": call["attempt_id"], "outcome": "promised"},
            )
        today = await case_today(env)
        await kept.execute_update(
            CollectionCase.promise_to_pay,
            {"promise_id": "pr-1", "amount_minor": 1000, "due_date": today.isoformat()},
        )
        await env.sleep(timedelta(days=1, hours=2))
        kept_status, forgotten_status = await status_of(kept), await status_of(forgotten)
        await end_case(kept)
        await end_case(forgotten)
    assert [c["channel"] for c in kept_status["contacts"]] == ["call"]
    # No promise followed the call: the task came back to the queue.
    calls = [c["attempt_id"] for c in forgotten_status["contacts"]]
    assert len(calls) == 2 and calls[1].endswith(".r1")


async def test_a_wrong_number_retires_the_phone_and_later_calls_are_skipped(
    own_time_env_from_night_or_day: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    env = own_time_env_from_night_or_day
    async with make_worker(env.client, case_world):
        await advance_to_local_time(env, OPEN_AT)
        handle = await start_case(env, case_world, days_overdue=15)
        await env.sleep(timedelta(hours=2))
        call = (await status_of(handle))["contacts"][-1]
        await handle.execute_update(
            CollectionCase.record_contact_outcome,
            {"attempt_id": call["attempt_id"], "outcome": "wrong_number"},
        )
        await env.sleep(timedelta(days=17))  # past the calls at DPD 21 and 28, the letter at 30
        status = await status_of(handle)
        await end_case(handle)
    assert [c["channel"] for c in status["contacts"]] == ["call", "letter"]
    why = rows(
        case_world,
        "select detail from case_events where kind = 'step_skipped' and detail like '%wrong%'",
    )
    assert len(why) == 2 and all("phone is unusable" in detail for (detail,) in why)
    assert rows(case_world, "select count(*) from case_events where kind = 'phone_unusable'") == [
        (1,)
    ]


async def visit_of(handle: WorkflowHandle[Any, Any], number: int) -> str:
    """The attempt id of the case's `number`-th field visit (waiting up to 10 s for it)."""

    def visits(status: dict[str, Any]) -> list[str]:
        return [c["attempt_id"] for c in status["contacts"] if c["channel"] == "field_visit"]

    status = await status_when(handle, lambda status: len(visits(status)) >= number)
    return visits(status)[number - 1]


async def visit_outcome(handle: WorkflowHandle[Any, Any], visit_id: str, outcome: str) -> None:
    await handle.execute_update(
        CollectionCase.record_visit_outcome, {"visit_id": visit_id, "outcome": outcome}
    )


async def test_a_visit_that_finds_nobody_home_is_rebooked_up_to_the_limit(
    own_time_env_from_night_or_day: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    env = own_time_env_from_night_or_day
    async with make_worker(env.client, case_world):
        await advance_to_local_time(env, OPEN_AT)
        handle = await start_case(env, case_world, days_overdue=41)
        first = await visit_of(handle, 1)
        await visit_outcome(handle, first, "not_home")
        # Visits are at most one a day: the re-booking comes the next day.
        await env.sleep(timedelta(days=1))
        second = await visit_of(handle, 2)
        await visit_outcome(handle, second, "not_home")
        await env.sleep(timedelta(days=1))
        third = await visit_of(handle, 3)
        await visit_outcome(handle, third, "not_home")
        await env.sleep(timedelta(hours=1))
        status = await status_of(handle)
        settled = await written_rows(case_world, "visit_settled", 1)
        slots = rows(case_world, "select scheduled_for from field_visits order by visit_id")
        await end_case(handle)
    assert (second, third) == (first + ".r1", first + ".r2")
    assert [c["channel"] for c in status["contacts"]].count("field_visit") == 3
    assert "re-booking limit reached" in settled[0][0]
    # Booked for a daytime slot: 10:00 in the borrower's timezone.
    for (slot,) in slots:
        assert datetime.fromisoformat(slot).astimezone(SHANGHAI).hour == 10


async def test_moved_opens_a_skip_trace_and_paid_on_site_expects_the_payment(
    own_time_env_from_night_or_day: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    env = own_time_env_from_night_or_day
    async with make_worker(env.client, case_world):
        await advance_to_local_time(env, OPEN_AT)
        moved = await start_case(env, case_world, days_overdue=41)
        paid = await start_case(env, case_world, days_overdue=41)
        unpaid = await start_case(env, case_world, days_overdue=41)
        await visit_outcome(moved, await visit_of(moved, 1), "moved")
        await visit_outcome(paid, await visit_of(paid, 1), "paid_on_site")
        await visit_outcome(unpaid, await visit_of(unpaid, 1), "paid_on_site")
        await paid.execute_update(
            CollectionCase.record_payment,
            {"payment_id": "cash-1", "amount_minor": 100000, "currency": "CNY"},
        )
        await env.sleep(timedelta(days=1, hours=1))
        traces = await written_rows(case_world, "skip_trace_opened", 1)
        received = await written_rows(case_world, "on_site_payment_received", 1)
        missing = await written_rows(case_world, "visit_settled", 1)
        queue = rows(case_world, "select queue, kind, status from work_items")
        for handle in (moved, paid, unpaid):
            await end_case(handle)
    assert len(traces) == 1 and len(received) == 1
    assert "no payment after paid_on_site" in missing[0][0]
    assert ("skip-trace", "skip_trace", "open") in queue


async def written_rows(world: CaseWorld, kind: str, expected: int) -> list[tuple[str]]:
    """The details of the case events of `kind`, once `expected` of them are written."""
    sql = f"select detail from case_events where kind = '{kind}'"
    return [(str(detail),) for (detail,) in await rows_when(world, sql, expected)]


async def test_recorded_outcomes_close_the_task_and_ask_for_nothing_more(
    own_time_env_from_night_or_day: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    env = own_time_env_from_night_or_day
    async with make_worker(env.client, case_world):
        await advance_to_local_time(env, OPEN_AT)
        called = {o: await start_case(env, case_world, days_overdue=15) for o in CALL_OUTCOMES}
        visited = {o: await start_case(env, case_world, days_overdue=41) for o in VISIT_OUTCOMES}
        await env.sleep(timedelta(hours=2))
        for outcome, handle in called.items():
            call = (await status_of(handle))["contacts"][-1]["attempt_id"]
            await handle.execute_update(
                CollectionCase.record_contact_outcome, {"attempt_id": call, "outcome": outcome}
            )
        for outcome, handle in visited.items():
            await visit_outcome(handle, await visit_of(handle, 1), outcome)
        # Past every SLA and a day of re-booking: nothing comes back to anyone's queue.
        await env.sleep(timedelta(days=2))
        call_statuses = {o: await status_of(h) for o, h in called.items()}
        visit_statuses = {o: await status_of(h) for o, h in visited.items()}
        for handle in (*called.values(), *visited.values()):
            await end_case(handle)
    for outcome in CALL_OUTCOMES:
        calls = [c for c in call_statuses[outcome]["contacts"] if c["channel"] == "call"]
        assert [c["result"] for c in calls] == [outcome], outcome
    for outcome in VISIT_OUTCOMES:
        visits = [c for c in visit_statuses[outcome]["contacts"] if c["channel"] == "field_visit"]
        assert [c["result"] for c in visits] == [outcome], outcome


CALL_OUTCOMES = ("reached", "no_answer", "refused")
VISIT_OUTCOMES = ("met", "refused")


async def test_an_agents_call_and_promise_name_the_agent_in_the_audit_log(
    own_time_env_from_night_or_day: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    """The desk sends an agent's messages with `source`: the supervisor counts each agent's
    calls, right-party contacts and promises kept from the events that carry it."""
    env = own_time_env_from_night_or_day
    async with make_worker(env.client, case_world):
        await advance_to_local_time(env, OPEN_AT)
        handle = await start_case(env, case_world, days_overdue=15)
        await env.sleep(timedelta(hours=2))
        call = (await status_of(handle))["contacts"][-1]["attempt_id"]
        await handle.execute_update(
            CollectionCase.record_contact_outcome,
            {"attempt_id": call, "outcome": "promised", "source": "agent1"},
        )
        today = await case_today(env)
        await handle.execute_update(
            CollectionCase.promise_to_pay,
            {
                "promise_id": "pr-1",
                "amount_minor": 1000,
                "due_date": today.isoformat(),
                "source": "agent1",
            },
        )
        await handle.execute_update(
            CollectionCase.record_payment,
            {"payment_id": "bank-1", "amount_minor": 1000, "currency": "CNY", "source": "bank"},
        )
        status = await status_of(handle)
        sql = "select kind, detail from case_events where detail like '%agent1%' order by kind"
        found = await rows_when(case_world, sql, 3)
        await end_case(handle)
    assert status["promise"]["state"] == "kept" and status["promise"]["source"] == "agent1"
    details = {str(kind): json.loads(detail) for kind, detail in found}
    assert set(details) == {"contact_outcome", "promise_made", "promise_kept"}
    assert all(detail["source"] == "agent1" for detail in details.values())
    assert details["contact_outcome"]["outcome"] == "promised"
    # Events of messages sent without a source have none (the case's own steps, the payment).
    assert rows(case_world, "select count(*) from case_events where detail like '%source%'") == [
        (3,)
    ]
