"""Floods: a case that takes more messages than one Temporal run may hold continues as new,
carrying its whole state, and loses no message and answers none twice across the hand-over.

On the real dev server, whose limits are Temporal's defaults (10,000 signals and 50 MB of
history per run; continue-as-new suggested at 4,096 events or 4 MB), with the real activities
on a real SQLite database.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError

from activities.case_activities import CollectionActivities
from caseclient.messages import send_signal, send_update
from tests.helpers.cases import case_input, rows
from tests.helpers.eventually import eventually
from tests.helpers.histories import save_history
from tests.helpers.temporal import CaseWorld, DevServer
from tests.helpers.workers import worker_with
from workflows.collection_case import CollectionCase

SIGNAL_LIMIT_PER_RUN = 10_000
HISTORY_SIZE_LIMIT = 50 * 1024 * 1024


def quiet_case() -> dict[str, Any]:
    """A case in its grace days: nothing is due for days, so only the messages move it."""
    due = (datetime.now(UTC) - timedelta(days=1)).date()
    return case_input(due, policy="default")


async def runs_of(client: Client, workflow_id: str, first_run_id: str) -> list[dict[str, int]]:
    """Each run of the case, first to last: its events, bytes of history and signals."""
    runs = []
    run_id: str | None = first_run_id
    while run_id is not None:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        events = history.events
        runs.append(
            {
                "events": len(events),
                "bytes": sum(event.ByteSize() for event in events),
                "signals": sum(
                    1
                    for e in events
                    if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
                ),
            }
        )
        last = events[-1]
        run_id = (
            last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
            if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
            else None
        )
    return runs


async def test_a_flood_of_small_signals_and_updates_loses_nothing_across_runs(
    dev_server: DevServer, case_world: CaseWorld, real_activities: CollectionActivities
) -> None:
    client = dev_server.env.client
    data = quiet_case()
    workflow_id = f"collection-{data['loan_id']}"
    valid_ids = [f"bank-{n}" for n in range(100)]
    update_ids = [f"desk-{n}" for n in range(40)]
    total_signals = 18_000
    # Each valid payment twice (a payment system retrying), the rest in another currency.
    signals: list[dict[str, Any]] = [
        {"payment_id": payment_id, "amount_minor": 1, "currency": "CNY"}
        for payment_id in valid_ids * 2
    ]
    signals += [
        {"payment_id": f"usd-{n}", "amount_minor": 1, "currency": "USD"}
        for n in range(total_signals - len(signals))
    ]
    rejected = total_signals - 2 * len(valid_ids)
    async with worker_with(dev_server, case_world, real_activities):
        started = await client.start_workflow(
            CollectionCase.run, data, id=workflow_id, task_queue=case_world.task_queue
        )
        case = client.get_workflow_handle(workflow_id)
        gate = asyncio.Semaphore(12)

        async def signal(payment: dict[str, Any]) -> None:
            async with gate:
                await send_signal(case, "payment_received", payment)

        async def pay(payment_id: str) -> dict[str, Any]:
            # As starter.py sends it: again while the case is handing over.
            return await send_update(
                case,
                "record_payment",
                {"payment_id": payment_id, "amount_minor": 1, "currency": "CNY"},
            )

        async def desk() -> list[dict[str, Any]]:
            """A desk paying one payment after another while the flood lasts, so that some
            of them meet a hand-over."""
            answers = []
            for payment_id in update_ids:
                answers.append(await pay(payment_id))
                await asyncio.sleep(0.3)
            return answers

        flood = asyncio.gather(*(signal(payment) for payment in signals))
        answers, _ = await asyncio.gather(desk(), flood)

        assert sorted(a["payment_id"] for a in answers) == sorted(update_ids)
        assert all(a["applied"] and not a["duplicate"] for a in answers)

        async def all_taken() -> bool:
            status = await case.query("status")
            return bool(status["rejected_counts"]["payments"] == rejected)

        await eventually(all_taken, seconds=120)
        status = await case.query("status")
        assert status["paid_minor"] == len(valid_ids) + len(update_ids)
        assert len(status["payments"]) == len(valid_ids) + len(update_ids)
        assert len(status["rejected_payments"]) <= 50

        # Sent again after the hand-overs: each answered as the first time, nothing applied.
        again = [await pay(payment_id) for payment_id in update_ids[:5]]
        assert all(a["duplicate"] and a["applied"] for a in again)
        assert (await case.query("status"))["paid_minor"] == len(valid_ids) + len(update_ids)

        # Every rejected signal, and every payment, reached the case database.
        async def all_stored() -> bool:
            stored = rows(case_world, "select status, count(*) from payments group by status")
            return dict(stored) == {
                "applied": len(valid_ids) + len(update_ids),
                "rejected": rejected,
            }

        await eventually(all_stored, seconds=120)

        runs = await runs_of(client, workflow_id, started.result_run_id or "")
        assert len(runs) >= 2, runs
        # A flood faster than the case writes its records may meet the server's own limit
        # before the case hands over: the server then refuses, and the sender sends again.
        assert all(run["signals"] <= SIGNAL_LIMIT_PER_RUN for run in runs), runs
        assert sum(run["signals"] for run in runs) == total_signals
        assert (await case.describe()).status == WorkflowExecutionStatus.RUNNING
        await case.terminate("test over")


async def test_large_signals_cannot_push_a_case_past_its_history_limit(
    dev_server: DevServer, case_world: CaseWorld, real_activities: CollectionActivities
) -> None:
    """30 signals of 1.9 MB once ended a case (its history passed 50 MB). The server refuses
    any payload above 128 KB (settings.DEV_SERVER_LIMITS), and signals just below that, more
    than 50 MB of them, make the case continue as new long before its history is in danger."""
    client = dev_server.env.client
    data = quiet_case()
    workflow_id = f"collection-{data['loan_id']}"
    async with worker_with(dev_server, case_world, real_activities):
        started = await client.start_workflow(
            CollectionCase.run, data, id=workflow_id, task_queue=case_world.task_queue
        )
        case = client.get_workflow_handle(workflow_id)

        async def prepared() -> bool:
            return bool((await case.query("status"))["stage"] == "grace")

        await eventually(prepared, seconds=120)

        def payment(n: int, source_bytes: int) -> dict[str, Any]:
            return {
                "payment_id": f"big-{n}",
                "amount_minor": 1,
                "currency": "CNY",
                "source": "x" * source_bytes,
            }

        refused = 0
        for n in range(30):
            try:
                await case.signal("payment_received", payment(n, 1_900_000))
            except RPCError as error:
                assert "size exceeds limit" in str(error)
                refused += 1
        assert refused == 30

        # 430 signals of 120 KB (52 MB in all), one after the other, 20 a second (2.4 MB/s):
        # each is taken and rejected (the source is too long), and no run comes near
        # Temporal's limits. (Sent faster than the worker completes a workflow task, from
        # many connections at once, they can still outrun a case: see the README.)
        count = 430
        for n in range(count):
            await case.signal("payment_received", payment(n, 120_000))
            await asyncio.sleep(0.05)

        async def all_taken() -> bool:
            status = await case.query("status")
            return bool(status["rejected_counts"]["payments"] == count)

        await eventually(all_taken, seconds=120)
        status = await case.query("status")
        assert status["paid_minor"] == 0
        # A rejection names the field and never echoes what was sent.
        assert all(len(entry["reason"]) < 200 for entry in status["rejected_payments"])
        assert (await case.describe()).status == WorkflowExecutionStatus.RUNNING

        # The case still takes a payment by signal and by update.
        await case.signal(
            "payment_received",
            {"payment_id": f"ok-{uuid.uuid4().hex[:6]}", "amount_minor": 10, "currency": "CNY"},
        )
        answer = await case.execute_update(
            "record_payment",
            {"payment_id": "ok-update", "amount_minor": 5, "currency": "CNY"},
            result_type=dict,
        )
        assert answer["applied"] and answer["outstanding_minor"] == 500000 - 15

        runs = await runs_of(client, workflow_id, started.result_run_id or "")
        assert len(runs) >= 3, runs
        assert all(run["bytes"] < HISTORY_SIZE_LIMIT // 2 for run in runs), runs
        # A run that began with the state its predecessor carried over, for the replay test.
        await case.signal("payment_received", {"payment_id": "last", "amount_minor": 1})
        await save_history(case, "carried_over_run")
        await case.terminate("test over")


async def test_an_oversized_update_changes_nothing_and_the_case_takes_the_next_payment(
    dev_server: DevServer, case_world: CaseWorld, real_activities: CollectionActivities
) -> None:
    """A 3 MB note cannot even be refused: Temporal's SDK sends a rejected update's argument
    back with the rejection, above the payload limit, so the case's workflow task fails until
    the server drops the update. The case records nothing of it, and a payment sent at once,
    as starter.py sends it, is applied."""
    client = dev_server.env.client
    data = quiet_case()
    workflow_id = f"collection-{data['loan_id']}"
    async with worker_with(dev_server, case_world, real_activities):
        await client.start_workflow(
            CollectionCase.run, data, id=workflow_id, task_queue=case_world.task_queue
        )
        case = client.get_workflow_handle(workflow_id)
        await send_update(
            case, "record_payment", {"payment_id": "first", "amount_minor": 1, "currency": "CNY"}
        )
        with pytest.raises((RPCError, WorkflowUpdateFailedError, RPCTimeoutOrCancelledError)):
            await case.execute_update(
                "record_contact_outcome",
                {"attempt_id": "a-1", "outcome": "reached", "note": "x" * 3_000_000},
                rpc_timeout=timedelta(seconds=5),
            )
        answer = await send_update(
            case,
            "record_payment",
            {"payment_id": "next", "amount_minor": 10, "currency": "CNY"},
            timeout=90,
        )
        assert answer["applied"] and answer["outstanding_minor"] == 500000 - 11
        status = await case.query("status")
        assert [p["payment_id"] for p in status["payments"]] == ["first", "next"]
        history = await case.fetch_history()
        accepted = [
            e
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        ]
        assert len(accepted) == 2
        await case.terminate("test over")
