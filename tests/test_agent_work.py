"""Call tasks with an SLA and what agents' outcomes do, in whole cases on the time-skipping
server, and as rules."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from temporalio.testing import WorkflowEnvironment

from domain.case import parse_case_input
from domain.case_state import CaseState, Contact
from domain.clock import case_clock
from domain.decide import CasePlan, RunStep, Skip, decide
from domain.messages import Outcome
from policies import load_policy
from tests.temporal_fixtures import CaseWorld, make_worker
from tests.test_engagement import case_today, status_of
from tests.test_workflow import rows, start_case
from workflows.collection_case import CollectionCase

DUE = date(2026, 3, 1)
OPENED = datetime(2026, 3, 15, 2, 0, tzinfo=UTC)  # DPD 14, 10:00 in Shanghai


async def work_items(world: CaseWorld, expected: int) -> list[tuple[str, str]]:
    """(work item id, status) of the case's call tasks, once `expected` of them exist."""
    found: list[tuple[str, str]] = []
    for _ in range(100):
        found = [tuple(row) for row in rows(world, "select work_item_id, status from work_items")]
        if len(found) >= expected:
            break
        await asyncio.sleep(0.1)
    return sorted(found)


async def test_a_call_task_with_no_outcome_expires_and_is_requeued_once(
    own_time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    env = own_time_env
    async with make_worker(env.client, case_world):
        handle = await start_case(env, case_world, days_overdue=15)
        # Past the call task's SLA (re-queued), the re-queued one's, and the next call (DPD 21)
        # at whose wake the case marks the re-queued one expired.
        await env.sleep(timedelta(days=7))
        status = await status_of(handle)
        items = await work_items(case_world, 3)
        await handle.terminate("test over")
    calls = [c["attempt_id"] for c in status["contacts"] if c["channel"] == "call"]
    assert calls[1] == calls[0] + ".r1"
    # The first expired and came back once; the re-queued one expired too (limit 1).
    assert dict(items)[calls[0]] == "expired" and dict(items)[calls[1]] == "expired"


async def test_a_promised_call_expects_a_promise_within_the_sla(
    own_time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    env = own_time_env
    async with make_worker(env.client, case_world):
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
        await kept.terminate("test over")
        await forgotten.terminate("test over")
    assert [c["channel"] for c in kept_status["contacts"]] == ["call"]
    # No promise followed the call: the task came back to the queue.
    calls = [c["attempt_id"] for c in forgotten_status["contacts"]]
    assert len(calls) == 2 and calls[1].endswith(".r1")


async def test_a_wrong_number_retires_the_phone_and_later_calls_are_skipped(
    own_time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    env = own_time_env
    async with make_worker(env.client, case_world):
        handle = await start_case(env, case_world, days_overdue=15)
        await env.sleep(timedelta(hours=2))
        call = (await status_of(handle))["contacts"][-1]
        await handle.execute_update(
            CollectionCase.record_contact_outcome,
            {"attempt_id": call["attempt_id"], "outcome": "wrong_number"},
        )
        await env.sleep(timedelta(days=17))  # past the calls at DPD 21 and 28, the letter at 30
        status = await status_of(handle)
        await handle.terminate("test over")
    assert [c["channel"] for c in status["contacts"]] == ["call", "letter"]
    why = rows(
        case_world,
        "select detail from case_events where kind = 'step_skipped' and detail like '%wrong%'",
    )
    assert len(why) == 2 and all("phone is unusable" in detail for (detail,) in why)
    assert rows(case_world, "select count(*) from case_events where kind = 'phone_unusable'") == [
        (1,)
    ]


def test_with_the_phone_unusable_an_sms_reminder_falls_back_to_email_or_is_skipped() -> None:
    policy = load_policy("default")
    for email, expected in (("b@example.cn", "email"), (None, "skip")):
        case = parse_case_input(
            {
                "loan_id": "L-1",
                "borrower": {"borrower_id": "B-1", "timezone": "Asia/Shanghai", "email": email},
                "currency": "CNY",
                "overdue_amount_minor": 500000,
                "due_date": DUE.isoformat(),
            },
            now=OPENED,
        )
        state = CaseState(case)
        state.contacts.append(Contact("c1", "call", "first_call", "t", "queued", 14))
        state.record_outcome(Outcome("c1", "wrong_number"), "call", OPENED)
        plan = CasePlan(policy, "Asia/Shanghai", case_clock(DUE, "Asia/Shanghai", OPENED, 86400))
        state.next_step = 2  # the SMS at DPD 7 is next
        decision = decide(state, plan, datetime(2026, 3, 8, 2, 0, tzinfo=UTC))
        if expected == "email":
            assert isinstance(decision, RunStep) and decision.step.channel == "email"
        else:
            assert isinstance(decision, Skip) and "wrong number" in decision.why
