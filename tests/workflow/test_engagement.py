"""Promises, installment plans and settlements in whole cases, on the time-skipping server."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from tests.helpers.cases import (
    case_today,
    end_case,
    history_counts,
    rows,
    start_case,
    status_of,
    status_when,
    written,
)
from tests.helpers.histories import save_history
from tests.helpers.temporal import CaseWorld, make_worker
from workflows.collection_case import CollectionCase

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def opened(handle: WorkflowHandle[Any, Any]) -> dict[str, Any]:
    """The case's status once its opening is over (it first waits for a step), for a commitment
    sent right after the start: before preparation the case refuses commitments (it does not
    know its policy yet), and inside the contact window it then makes a contact at once; a
    commitment that cancels that contact as it completes can stall the time-skipping server
    (ACTIVITY_UNKNOWN)."""
    return await status_when(handle, lambda status: status["next_action"] is not None)


async def rejected(handle: WorkflowHandle[Any, Any], update: str, arg: dict[str, Any]) -> str:
    """The rejection type and message of an update that must be refused."""
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update(update, arg, result_type=dict)
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError)
    return f"{cause.type}: {cause.message}"


def payment(payment_id: str, amount: int) -> dict[str, Any]:
    return {"payment_id": payment_id, "amount_minor": amount, "currency": "CNY"}


async def test_a_promise_kept_then_a_broken_one_resumes_escalation(
    own_time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    time_env = own_time_env  # a server of its own: cases of other tests never interfere
    async with make_worker(time_env.client, case_world):
        # DPD 16: the first call task (DPD 14) goes out today, the second (DPD 21) falls while
        # the second promise runs.
        handle = await start_case(time_env, case_world, days_overdue=16)
        await time_env.sleep(timedelta(hours=12))
        calls_before = len((await status_of(handle))["contacts"])
        today = await case_today(time_env)
        answer = await handle.execute_update(
            CollectionCase.promise_to_pay,
            {
                "promise_id": "pr-1",
                "amount_minor": 100000,
                "due_date": (today + timedelta(days=3)).isoformat(),
            },
        )
        assert answer == {"promise_id": "pr-1", "accepted": True, "status": "promise_pending"}
        await handle.execute_update(CollectionCase.record_payment, payment("p-1", 100000))
        kept = await status_of(handle)
        # Broken: a second promise of which only part arrives.
        today = await case_today(time_env)
        await handle.execute_update(
            CollectionCase.promise_to_pay,
            {
                "promise_id": "pr-2",
                "amount_minor": 100000,
                "due_date": (today + timedelta(days=2)).isoformat(),
            },
        )
        await handle.execute_update(CollectionCase.record_payment, payment("p-2", 40000))
        paused = await status_of(handle)
        await time_env.sleep(timedelta(days=5))
        broken = await status_when(handle, lambda s: len(s["contacts"]) > calls_before)
        await save_history(handle, "promise_kept_then_broken")
        await end_case(handle)

    assert kept["promise"]["state"] == "kept" and kept["status"] == "active"
    assert paused["status"] == "promise_pending"
    assert broken["promise"] == {
        "promise_id": "pr-2",
        "amount_minor": 100000,
        "due_date": (today + timedelta(days=2)).isoformat(),
        "state": "broken",
        "paid_toward_minor": 40000,
        "shortfall_minor": 60000,
    }
    assert broken["broken_promises"] == 1 and broken["status"] == "active"
    # Escalation resumed once the promise was broken: a new call task went out.
    assert len(broken["contacts"]) > calls_before
    kinds = rows(case_world, "select kind from case_events where kind like 'promise%'")
    assert sorted(kind for (kind,) in kinds) == [
        "promise_broken",
        "promise_kept",
        "promise_made",
        "promise_made",
    ]


async def test_the_fourth_promise_after_three_broken_is_refused(
    own_time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    env = own_time_env
    async with make_worker(env.client, case_world):
        handle = await start_case(env, case_world, days_overdue=20)
        await opened(handle)
        for number in range(3):
            today = await case_today(env)
            await handle.execute_update(
                CollectionCase.promise_to_pay,
                {
                    "promise_id": f"pr-{number}",
                    "amount_minor": 1000,
                    "due_date": today.isoformat(),
                },
            )
            await env.sleep(timedelta(days=3))
        today = await case_today(env)
        refusal = await rejected(
            handle,
            "promise_to_pay",
            {"promise_id": "pr-4", "amount_minor": 1000, "due_date": today.isoformat()},
        )
        status = await status_of(handle)
        await end_case(handle)
    assert refusal.startswith("InvalidPromise: promise_id: 3 promises were broken")
    assert status["broken_promises"] == 3 and status["promise"]["promise_id"] == "pr-2"


async def test_a_plan_paid_in_full_ends_the_case_plan_completed(
    own_time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    time_env = own_time_env  # a server of its own: cases of other tests never interfere
    async with make_worker(time_env.client, case_world):
        handle = await start_case(time_env, case_world, days_overdue=20)
        await time_env.sleep(timedelta(hours=12))  # today's call task is queued first
        today = await case_today(time_env)
        answer = await handle.execute_update(
            CollectionCase.propose_plan,
            {
                "plan_id": "pl-1",
                "installments": [
                    {"due_date": (today + timedelta(days=10)).isoformat(), "amount_minor": 250000},
                    {"due_date": (today + timedelta(days=40)).isoformat(), "amount_minor": 250000},
                ],
            },
        )
        contacts_in_plan = len((await status_of(handle))["contacts"])
        await time_env.sleep(timedelta(days=8))
        await handle.execute_update(CollectionCase.record_payment, payment("p-1", 250000))
        await time_env.sleep(timedelta(days=30))
        during = await status_of(handle)
        await handle.execute_update(CollectionCase.record_payment, payment("p-2", 250000))
        result = await handle.result()
        await save_history(handle, "plan_completed")
    assert answer == {"plan_id": "pl-1", "accepted": True, "status": "in_plan"}
    assert during["status"] == "in_plan"
    assert len(during["contacts"]) == contacts_in_plan  # no escalation while in plan
    assert result["status"] == "plan_completed"
    assert [i["state"] for i in result["plan"]["installments"]] == ["paid", "paid"]


async def test_a_plan_by_signal_broken_by_a_missed_installment_resumes_where_it_began(
    own_time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    time_env = own_time_env  # a server of its own: cases of other tests never interfere
    async with make_worker(time_env.client, case_world):
        handle = await start_case(time_env, case_world, days_overdue=20)
        await time_env.sleep(timedelta(hours=12))
        today = await case_today(time_env)
        plan = {
            "plan_id": "pl-1",
            "installments": [
                {"due_date": (today + timedelta(days=5)).isoformat(), "amount_minor": 250000},
                {"due_date": (today + timedelta(days=35)).isoformat(), "amount_minor": 250000},
            ],
        }
        await handle.signal("plan_received", plan)
        await handle.signal("plan_received", plan)  # shares the update's de-duplication
        await handle.signal("plan_received", {"plan_id": "pl-bad", "installments": []})
        in_plan = await status_of(handle)
        await time_env.sleep(timedelta(days=3))
        await handle.execute_update(CollectionCase.record_payment, payment("p-1", 250000))
        # The second installment is never paid: missed 3 days after its due date.
        await time_env.sleep(timedelta(days=45))
        broken = await status_of(handle)
        await save_history(handle, "plan_broken")
        await end_case(handle)

    assert in_plan["status"] == "in_plan" and in_plan["plan"]["plan_id"] == "pl-1"
    assert in_plan["rejected_plans"] == [
        {"plan_id": "pl-bad", "reason": "installments: must be a non-empty list"}
    ]
    assert broken["plan"]["state"] == "broken"
    assert [i["state"] for i in broken["plan"]["installments"]] == ["paid", "missed"]
    assert broken["plan"]["began_in_stage"] == "phone"
    # At DPD ~68 the latest rung is legal, but collection resumed in phone where the plan began.
    after_plan = [c for c in broken["contacts"] if c["at"] > in_plan["contacts"][-1]["at"]]
    assert after_plan and after_plan[0]["channel"] in ("call", "letter")


async def test_a_settlement_paid_ends_the_case_settled_and_an_unpaid_one_lapses(
    own_time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    # A server of its own: after this test the shared time-skipping server stopped skipping
    # time for the next test's case (seen with temporal-test-server 1.40).
    time_env = own_time_env
    async with make_worker(time_env.client, case_world):
        paid_case = await start_case(time_env, case_world, days_overdue=20)
        lapsing = await start_case(time_env, case_world, days_overdue=20)
        for handle, settlement_id in ((paid_case, "s-1"), (lapsing, "s-2")):
            await opened(handle)
            today = await case_today(time_env)
            answer = await handle.execute_update(
                CollectionCase.agree_settlement,
                {
                    "settlement_id": settlement_id,
                    "amount_minor": 300000,
                    "due_date": (today + timedelta(days=10)).isoformat(),
                },
            )
            assert answer["accepted"] is True
        await paid_case.execute_update(CollectionCase.record_payment, payment("p-1", 300000))
        await time_env.sleep(timedelta(days=12))
        lapsed = await status_of(lapsing)
        settled = await paid_case.result()
        await end_case(lapsing)
    assert settled["status"] == "settled"
    assert settled["settlement"]["state"] == "paid"
    assert settled["settlement"]["forgiven_minor"] == 200000
    assert lapsed["settlement"]["state"] == "lapsed" and lapsed["status"] == "active"


async def test_every_commitment_rejection_names_the_field_and_records_nothing(
    own_time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    env = own_time_env
    async with make_worker(env.client, case_world):
        handle = await start_case(env, case_world, days_overdue=20)
        await opened(handle)
        today = await case_today(env)
        far = (today + timedelta(days=90)).isoformat()
        refusals = [
            await rejected(handle, "promise_to_pay", {"promise_id": "x", "amount_minor": 1}),
            await rejected(
                handle,
                "promise_to_pay",
                {"promise_id": "x", "amount_minor": 900000, "due_date": today.isoformat()},
            ),
            await rejected(
                handle, "propose_plan", {"plan_id": "x", "installments": [{"due_date": far}]}
            ),
            await rejected(
                handle,
                "propose_plan",
                {"plan_id": "x", "installments": [{"due_date": far, "amount_minor": 500000}]},
            ),
            await rejected(
                handle,
                "agree_settlement",
                {"settlement_id": "x", "amount_minor": 500000, "due_date": far},
            ),
        ]
        status = await status_of(handle)
        await written(case_world, "select 1", 0)
        await end_case(handle)
    assert refusals[0].startswith("InvalidPromise: due_date:")
    assert refusals[1].startswith("InvalidPromise: amount_minor:")
    assert refusals[2].startswith("InvalidPlan: installments[0].amount_minor:")
    assert refusals[3].startswith("InvalidPlan: installments[0].due_date:")
    assert refusals[4].startswith("InvalidSettlement: amount_minor:")
    assert status["promise"] is None and status["plan"] is None and status["settlement"] is None
    assert status["status"] == "active"
    assert rows(case_world, "select count(*) from case_events where kind like 'p%'") == [(0,)]


async def test_the_full_ladder_with_a_broken_promise_and_a_broken_plan_stays_small(
    own_time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    env = own_time_env
    async with make_worker(env.client, case_world):
        handle = await start_case(env, case_world, days_overdue=0)
        await env.sleep(timedelta(days=8))
        today = await case_today(env)
        await handle.execute_update(
            CollectionCase.promise_to_pay,
            {"promise_id": "pr-1", "amount_minor": 100000, "due_date": today.isoformat()},
        )
        await env.sleep(timedelta(days=10))
        today = await case_today(env)
        await handle.execute_update(
            CollectionCase.propose_plan,
            {
                "plan_id": "pl-1",
                "installments": [
                    {"due_date": (today + timedelta(days=7 * n + 7)).isoformat(),
                     "amount_minor": 100000}
                    for n in range(5)
                ],
            },
        )  # fmt: skip
        await env.sleep(timedelta(days=8))
        await handle.execute_update(CollectionCase.record_payment, payment("p-1", 100000))
        result = await handle.result()
    counts = await history_counts(handle)
    assert result["status"] == "written_off"
    assert result["promise"]["state"] == "broken" and result["plan"]["state"] == "broken"
    assert counts["total"] < 400, counts
