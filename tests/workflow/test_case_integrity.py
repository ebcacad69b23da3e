"""What a sender cannot do to a case: grow its state without bound, break an update with an
argument of another shape, or stop its bookkeeping for good with one failed batch."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities import metrics
from tests.helpers.cases import rows, start_case
from tests.helpers.eventually import eventually
from tests.helpers.temporal import CaseWorld, make_worker

UPDATES = {
    "record_payment": "InvalidPayment",
    "promise_to_pay": "InvalidPromise",
    "propose_plan": "InvalidPlan",
    "record_contact_outcome": "InvalidOutcome",
    "record_visit_outcome": "InvalidOutcome",
    "record_legal_event": "InvalidLegalEvent",
    "agree_settlement": "InvalidSettlement",
    "place_hold": "InvalidHold",
    "release_hold": "InvalidHold",
    "request_callback": "InvalidCallback",
}


# -- updates: any argument shape gets the update's own rejection ------------------------------
async def test_every_update_answers_any_argument_shape_with_its_own_rejection(
    own_time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    async with make_worker(own_time_env.client, case_world):
        handle = await start_case(own_time_env, case_world)
        for update, rejection in UPDATES.items():
            for shape in ("a string", [1, 2], 7, None, {"unexpected": {"deep": [1]}}):
                with pytest.raises(WorkflowUpdateFailedError) as failed:
                    await handle.execute_update(update, shape, result_type=dict)
                cause = failed.value.cause
                assert isinstance(cause, ApplicationError), (update, shape, cause)
                assert cause.type == rejection, (update, shape, cause.type)
        # Nothing was recorded, and the case still takes a payment.
        answer = await handle.execute_update(
            "record_payment",
            {"payment_id": "ok-1", "amount_minor": 100, "currency": "CNY"},
            result_type=dict,
        )
        assert answer["applied"] and answer["outstanding_minor"] == 500000 - 100


# -- bookkeeping: a failed batch is kept and sent again ---------------------------------------
async def details(handle: WorkflowHandle[Any, Any]) -> str:
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return str(metadata.current_details)


async def until(check: Callable[[], Awaitable[bool]], env: WorkflowEnvironment) -> None:
    """Moves the test server's clock on by half a minute at a time (the case's pauses between
    tries grow to 30 minutes) until `check` holds."""
    await eventually(check, pause=lambda: env.sleep(timedelta(seconds=30)), seconds=120)


async def test_a_batch_the_database_refuses_is_kept_and_written_once_it_can_be(
    own_time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    time_env = own_time_env  # a server of its own: this case moves its clock on by a month
    failures = metrics.BOOKKEEPING_FAILURES.labels(error="CaseNotFound")
    failed_before = failures._value.get()
    async with make_worker(time_env.client, case_world):
        handle = await start_case(time_env, case_world)
        case_id = handle.result_run_id

        async def prepared() -> bool:
            return bool(rows(case_world, f"select 1 from cases where case_id = '{case_id}'"))

        await until(prepared, time_env)
        # As if the worker pointed at another database: the case's row is not there.
        moved = f"moved-{uuid.uuid4().hex[:6]}"
        run_sql(case_world, f"update cases set case_id = '{moved}' where case_id = '{case_id}'")

        answer = await handle.execute_update(
            "record_payment",
            {"payment_id": "bank-1", "amount_minor": 500000, "currency": "CNY"},
            result_type=dict,
        )
        assert answer["status"] == "paid"

        async def shows_the_problem() -> bool:
            return "Bookkeeping" in await details(handle)

        await until(shows_the_problem, time_env)
        assert failures._value.get() > failed_before
        assert rows(case_world, f"select status from cases where case_id = '{moved}'") == [
            ("active",)
        ]

        # The database is back: the kept batch is written, and the problem is gone.
        run_sql(case_world, f"update cases set case_id = '{case_id}' where case_id = '{moved}'")

        async def written() -> bool:
            return rows(case_world, f"select status from cases where case_id = '{case_id}'") == [
                ("paid",)
            ]

        await until(written, time_env)
        assert "Bookkeeping" not in await details(handle)
        closed = "select count(*) from case_events where kind = 'closed'"
        assert rows(case_world, closed) == [(1,)]
        assert rows(case_world, "select count(*) from payments where status = 'applied'") == [(1,)]

        # After its linger the case completes: nothing is left unwritten.
        await time_env.sleep(timedelta(days=31))
        result = await asyncio.wait_for(handle.result(), timeout=60)
        assert result["status"] == "paid"


def run_sql(world: CaseWorld, sql: str) -> None:
    engine = create_engine(world.database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text(sql))
    finally:
        engine.dispose()
