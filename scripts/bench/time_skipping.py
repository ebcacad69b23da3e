"""On the time-skipping test server: the history length of a `default` case left unpaid until
it completes, and of one paid in full once its first SMS went out; and the unpaid case's
footprint (case_footprint), the per-case figures of docs/capacity.md."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from bench_cases import (
    CURRENCY,
    LADDER_QUEUE,
    TIMEZONE,
    case_input,
    days_ago,
    server_binary,
)
from case_footprint import DatabaseStatements, case_footprint
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

import worker as project_worker
from workflows import search_attributes

log = structlog.get_logger("bench")


async def start_default_case(
    env: WorkflowEnvironment, loan_id: str, days_overdue: int
) -> WorkflowHandle[Any, Any]:
    due = days_ago(await env.get_current_time(), days_overdue)
    return await env.client.start_workflow(
        "CollectionCase",
        case_input(loan_id, due, "default"),
        id=f"collection-{loan_id}",
        task_queue=LADDER_QUEUE,
    )


async def pay_in_full_after_first_contact(
    env: WorkflowEnvironment, case: WorkflowHandle[Any, Any]
) -> None:
    for _ in range(40):  # 10 days in steps of 6 hours
        status: dict[str, Any] = await case.query("status", result_type=dict)
        if status["contacts"]:
            break
        await env.sleep(timedelta(hours=6))
    else:
        raise RuntimeError("no first contact within 10 days")
    if status["contacts"][0]["channel"] != "sms":
        log.warning("the first contact is not an SMS", contact=status["contacts"][0])
    payment = {"payment_id": "bench-full", "amount_minor": status["outstanding_minor"]}
    await case.execute_update("record_payment", payment | {"currency": CURRENCY}, result_type=dict)


async def ladder_event_counts() -> dict[str, Any]:
    """History events, at completion, of a `default` case unpaid and of one paid after its SMS,
    and the unpaid case's footprint (read before the paid case starts, so that the database
    statements counted are the unpaid case's alone)."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=server_binary("temporal-test-server")
    )
    try:
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes=search_attributes.INDEXED_TYPES,
            )
        )
        async with project_worker.create_worker(env.client, task_queue=LADDER_QUEUE):
            log.info("time-skipping: default ladder unpaid, then paid after the first SMS")
            with DatabaseStatements() as statements:
                unpaid = await start_default_case(env, "L-UNPAID", days_overdue=0)
                log.info("unpaid case ended", status=(await unpaid.result())["status"])
            footprint = await case_footprint(unpaid, TIMEZONE, statements)
            paid = await start_default_case(env, "L-PAID", days_overdue=1)
            await pay_in_full_after_first_contact(env, paid)
            log.info("paid case ended", status=(await paid.result())["status"])
            return {
                "default_ladder_events": footprint["history"]["events"],
                "paid_after_first_sms_events": len((await paid.fetch_history()).events),
                "footprint_default_case": footprint,
            }
    finally:
        await env.shutdown()
