"""A payment id is unique within one payment system, not across loans: two loans paid under the
same id are two payments, and the case database and the report count both; the same payment
retried within one case still counts once.

Activity-level on SQLite and PostgreSQL (`store`), then end to end through the workflow on the
time-skipping server and `starter.py report`.
"""

from __future__ import annotations

import json

import pytest
from temporalio.testing import WorkflowEnvironment

from cli import main as starter
from tests.helpers.cases import end_case, rows, start_case, until_idle, written
from tests.helpers.payment_keys import AMOUNT, PAYMENT_ID
from tests.helpers.temporal import CaseWorld, make_worker
from workflows.collection_case import CollectionCase


async def test_two_loans_paid_under_one_id_are_both_collected_end_to_end(
    time_env: WorkflowEnvironment,
    case_world: CaseWorld,
    capsys: pytest.CaptureFixture[str],
) -> None:
    paid = {"payment_id": PAYMENT_ID, "amount_minor": AMOUNT, "currency": "CNY"}
    async with make_worker(time_env.client, case_world):
        first = await start_case(
            time_env, case_world, days_overdue=20, overdue_amount_minor=5_000_000
        )
        second = await start_case(
            time_env, case_world, days_overdue=20, overdue_amount_minor=5_000_000
        )
        # Their first steps settled before a payment arrives: the test server refuses a workflow
        # task cancelling a step that completed in the same moment (`until_idle`).
        await until_idle(first)
        await until_idle(second)
        answers = [
            await first.execute_update(CollectionCase.record_payment, paid),
            await second.execute_update(CollectionCase.record_payment, paid),
            await first.execute_update(CollectionCase.record_payment, paid),  # a retry
        ]
        await written(case_world, "select count(*) from payments", 2)
        await end_case(first)
        await end_case(second)

    # The retry gets the first answer, marked a duplicate.
    assert [(a["applied"], a["duplicate"]) for a in answers] == [
        (True, False),
        (True, False),
        (True, True),
    ]
    stored = rows(
        case_world, "select loan_id, payment_id, applied_minor from payments order by loan_id"
    )
    loans = sorted([first.id.removeprefix("collection-"), second.id.removeprefix("collection-")])
    assert [tuple(row) for row in stored] == [(loan, PAYMENT_ID, AMOUNT) for loan in loans]

    capsys.readouterr()
    assert await starter.run(["report", "--json"]) == 0
    (currency,) = json.loads(capsys.readouterr().out)["currencies"]
    assert currency["collected_minor"] == 2 * AMOUNT


async def test_signals_with_an_empty_id_are_kept_as_rejected_and_never_applied(
    time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    """A payment system that can only signal and sends "" as the id: the payment is kept as
    rejected each time it is sent, never applied under an id made up for it."""
    empty_payment = {"payment_id": "", "amount_minor": 1000, "currency": "CNY"}
    async with make_worker(time_env.client, case_world):
        handle = await start_case(time_env, case_world, days_overdue=20)
        await until_idle(handle)  # its first step settled (see the test above)
        today = (await time_env.get_current_time()).date()
        plan = {
            "plan_id": "",
            "installments": [{"due_date": today.isoformat(), "amount_minor": 500000}],
        }
        await handle.signal("payment_received", empty_payment)
        await handle.signal("payment_received", empty_payment)  # the payment system retries
        await handle.signal("plan_received", plan)
        valid = {"payment_id": "p-ok", "amount_minor": 2000, "currency": "CNY"}
        await handle.execute_update(CollectionCase.record_payment, valid)
        status = await handle.query(CollectionCase.status)
        await written(case_world, "select count(*) from payments", 3)
        await end_case(handle)

    empty_id = "payment_id: must be 1 to 128 characters, not empty"
    assert status["rejected_payments"] == [
        {"payment_id": None, "reason": empty_id},
        {"payment_id": None, "reason": empty_id},
    ]
    assert [p["payment_id"] for p in status["payments"]] == ["p-ok"]
    assert (status["paid_minor"], status["outstanding_minor"]) == (2000, 498000)
    assert status["plan"] is None
    assert status["rejected_plans"] == [
        {"plan_id": None, "reason": "plan_id: must be 1 to 128 characters, not empty"}
    ]
    stored = rows(
        case_world, "select status, payment_id, applied_minor from payments order by status"
    )
    assert [tuple(row) for row in stored] == [
        ("applied", "p-ok", 2000),
        ("rejected", None, 0),
        ("rejected", None, 0),
    ]
