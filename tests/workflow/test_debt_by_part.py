"""The debt by part through the contract: a case opened with parts and a penalty rate accrues
penalty for each day past due without waking, pays its parts off in the policy's order, takes
adjustments (update and signal) and stops accruing under a plan."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from cli import main as starter
from domain.money import format_amount
from tests.helpers.cases import end_case, rows, rows_when, start_case, until_idle
from tests.helpers.eventually import eventually
from tests.helpers.histories import save_history
from tests.helpers.temporal import CaseWorld, make_worker
from workflows.collection_case import CollectionCase

OPENING = {"principal_minor": 400_000, "interest_minor": 50_000, "fees_minor": 50_000}
# 400,000 × 5 / 10,000 = 200 a day while the principal stands.
TERMS = {"penalty_rate_bps_per_day": 5}


def parts(balance: dict[str, Any]) -> tuple[int, int, int, int]:
    return (
        balance["principal_minor"],
        balance["interest_minor"],
        balance["fees_minor"],
        balance["penalty_minor"],
    )


async def test_penalty_accrues_per_day_and_payments_pay_the_parts_off_in_order(
    time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    async with make_worker(time_env.client, case_world):
        handle = await start_case(
            time_env, case_world, days_overdue=10, balance=OPENING, terms=TERMS
        )
        # Its first step settled before a message arrives: the test server refuses a workflow
        # task cancelling a step that completed in the same moment (`until_idle`).
        await until_idle(handle)
        # Ten days past due at opening: ten days of penalty, posted at its first decision.
        opened = await eventually(
            lambda: handle.query(CollectionCase.status),
            lambda status: status["balance"]["as_of"] is not None,
        )
        assert parts(opened["balance"]) == (400_000, 50_000, 50_000, 2_000)
        assert opened["outstanding_minor"] == 502_000

        answer = await handle.execute_update(
            CollectionCase.record_payment,
            {"payment_id": "pay-1", "amount_minor": 60_000, "currency": "CNY"},
        )
        # Fees, then penalty, then interest, then principal.
        assert answer["allocation"] == {
            "principal_minor": 0,
            "interest_minor": 8_000,
            "fees_minor": 50_000,
            "penalty_minor": 2_000,
        }
        assert answer["outstanding_minor"] == 442_000

        # Three days later (the case may sleep through them), three more days of penalty.
        await time_env.sleep(timedelta(days=3))
        adjusted = await handle.execute_update(
            CollectionCase.adjust_balance,
            {"adjustment_id": "adj-1", "component": "interest", "amount_minor": 1_000},
        )
        assert adjusted == {
            "adjustment_id": "adj-1",
            "applied": True,
            "outstanding_minor": 442_000 + 600 + 1_000,
            "status": "active",
        }
        status = await handle.query(CollectionCase.status)
        assert parts(status["balance"]) == (400_000, 43_000, 0, 600)
        assert status["outstanding_minor"] == sum(parts(status["balance"]))
        assert status["payments"][0]["allocation"] == answer["allocation"]
        await end_case(handle)
        await save_history(handle, "debt_by_part_accrued_paid_adjusted")


async def test_adjustments_are_refused_or_kept_and_a_plan_stops_the_penalty(
    time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    async with make_worker(time_env.client, case_world):
        handle = await start_case(
            time_env, case_world, days_overdue=10, balance=OPENING, terms=TERMS
        )
        # Its first step settled before a message arrives: the test server refuses a workflow
        # task cancelling a step that completed in the same moment (`until_idle`).
        await until_idle(handle)
        # No part below zero: the update is refused and changes nothing.
        try:
            await handle.execute_update(
                CollectionCase.adjust_balance,
                {"adjustment_id": "too-much", "component": "fees", "amount_minor": -50_001},
            )
            raise AssertionError("an adjustment below zero was taken")
        except WorkflowUpdateFailedError as error:
            assert isinstance(error.cause, ApplicationError)
            assert error.cause.type == "InvalidAdjustment"
            assert "amount_minor" in error.cause.message
        # The same by signal is kept with its reason.
        await handle.signal(
            "balance_adjusted",
            {"adjustment_id": "sig-1", "component": "fees", "amount_minor": -50_001},
        )
        await handle.signal(
            "balance_adjusted",
            {"adjustment_id": "sig-2", "component": "fees", "amount_minor": -10_000},
        )
        status = await eventually(
            lambda: handle.query(CollectionCase.status),
            lambda status: status["balance"]["fees_minor"] == 40_000,
        )
        assert status["rejected_adjustments"] == [
            {"adjustment_id": "sig-1", "reason": "amount_minor: would take the fees below zero"}
        ]
        # A plan agreed: no penalty while it runs.
        outstanding = status["outstanding_minor"]
        today = (await time_env.get_current_time()).date()
        await handle.execute_update(
            CollectionCase.propose_plan,
            {
                "plan_id": "plan-1",
                "installments": [
                    {
                        "due_date": (today + timedelta(days=20)).isoformat(),
                        "amount_minor": outstanding,
                    }
                ],
            },
        )
        await time_env.sleep(timedelta(days=3))
        await handle.signal(
            "balance_adjusted",
            {"adjustment_id": "sig-3", "component": "interest", "amount_minor": 100},
        )
        later = await eventually(
            lambda: handle.query(CollectionCase.status),
            lambda status: status["balance"]["interest_minor"] == 50_100,
        )
        assert later["balance"]["penalty_minor"] == status["balance"]["penalty_minor"]
        assert later["outstanding_minor"] == outstanding + 100
        await end_case(handle)
        await save_history(handle, "debt_by_part_refused_kept_plan")


async def test_status_the_next_notice_and_the_report_state_the_same_owed_amount(
    time_env: WorkflowEnvironment, case_world: CaseWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    async with make_worker(time_env.client, case_world):
        handle = await start_case(
            time_env, case_world, days_overdue=2, balance=OPENING, terms=TERMS
        )
        # The first reminder is due at DPD 3, in the borrower's contact window of that day.
        await time_env.sleep(timedelta(days=2))
        [(body,)] = await rows_when(
            case_world, "select body from contact_attempts where channel = 'sms'", 1
        )
        status = await eventually(
            lambda: handle.query(CollectionCase.status),
            lambda status: status["contacts"] and status["next_action"] is not None,
        )
        owed = status["outstanding_minor"]
        penalty = status["balance"]["penalty_minor"]
        assert penalty >= 3 * 200 and owed == 500_000 + penalty
        # The notice states the amount and its penalty as the case's status does.
        assert format_amount(owed, "CNY", "zh-CN") in body
        assert format_amount(penalty, "CNY", "zh-CN") in body
        # And the case database, which the report reads, holds the same figures.
        await eventually(
            lambda: rows(case_world, "select outstanding_minor, penalty_minor from cases"),
            lambda found: list(map(tuple, found)) == [(owed, penalty)],
        )
        await end_case(handle)
    capsys.readouterr()
    assert await starter.run(["report", "--json"]) == 0
    (currency,) = json.loads(capsys.readouterr().out)["currencies"]
    assert currency["outstanding_minor"] == owed
