"""Builders and readers of one case on a Temporal server: its start input, its start, its
status, and the rows its activities write to the test's database."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, text
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from cli.cases import static_details, static_summary
from domain.case import parse_case_input
from policies import load_policy
from tests.helpers.eventually import eventually
from tests.helpers.temporal import (
    BORROWER_TIMEZONE,
    CaseWorld,
)
from workflows.collection_case import CollectionCase


def case_input(due_date: date, **changes: Any) -> dict[str, Any]:
    """A case of a borrower of its own (caps count over all of a borrower's loans: a test of
    several loans of one borrower passes `borrower`)."""
    data: dict[str, Any] = {
        "loan_id": f"L-{uuid.uuid4().hex[:8]}",
        "borrower": {
            "borrower_id": f"B-{uuid.uuid4().hex[:8]}",
            "name": "王小明",
            "phone": "+8613800138000",
            "email": "wxm@example.cn",
            "address": "上海市浦东新区示例路 1 号",
            "timezone": "Asia/Shanghai",
            "locale": "zh-CN",
        },
        "currency": "CNY",
        "overdue_amount_minor": 500000,
        "due_date": due_date.isoformat(),
        "policy": "default",
        "portfolio": "consumer",
    }
    data.update(changes)
    return data


def borrower_days_ago(days: int) -> date:
    """The date `days` days before today (the wall clock's) in the calendar of the tests'
    borrowers, for a due date `days` days past due on the dev server at any hour: the UTC date
    is a day behind Shanghai's from 00:00 to 08:00 there."""
    return datetime.now(BORROWER_TIMEZONE).date() - timedelta(days=days)


async def start_case(
    env: WorkflowEnvironment,
    world: CaseWorld,
    *,
    days_overdue: int = 1,
    shown_in_ui: bool = False,
    **changes: Any,
) -> WorkflowHandle[CollectionCase, dict[str, Any]]:
    """Start a case as the tests need it; `shown_in_ui`: with the summary and details that
    `starter.py open` gives the Temporal UI."""
    # The test server's clock moves on with every test; due dates follow it, in the borrower's
    # calendar (as DPD counts): a UTC date is a day behind Shanghai's from 00:00 to 08:00 there.
    data = case_input(date.min, **changes)
    borrower = data.get("borrower")
    named = borrower.get("timezone") if isinstance(borrower, dict) else None
    timezone = ZoneInfo(named) if named else BORROWER_TIMEZONE
    today = (await env.get_current_time()).astimezone(timezone).date()
    data["due_date"] = (today - timedelta(days=days_overdue)).isoformat()
    summary = details = None
    if shown_in_ui:
        now = await env.get_current_time()
        case = parse_case_input(data, now=now)
        summary = static_summary(case)
        details = static_details(case, load_policy(case.policy), now=now)
    return await env.client.start_workflow(
        CollectionCase.run,
        data,
        id=f"collection-{data['loan_id']}",
        task_queue=world.task_queue,
        static_summary=summary,
        static_details=details,
    )


async def history_counts(handle: WorkflowHandle[Any, Any]) -> Counter[str]:
    """How many events of each type the case's history holds, and "total"."""
    counts: Counter[str] = Counter()
    async for event in handle.fetch_history_events():
        counts[EventType.Name(event.event_type)] += 1
        counts["total"] += 1
    return counts


async def patches_recorded(handle: WorkflowHandle[Any, Any]) -> tuple[list[str], int]:
    """The patch ids the case's history records, in order, and how many of its upserts set
    `TemporalChangeVersion` (the SDK's record of each patch a run took)."""
    patches: list[str] = []
    version_upserts = 0
    async for event in handle.fetch_history_events():
        details = event.marker_recorded_event_attributes.details
        if "patch-data" in details:
            patches.append(str(json.loads(details["patch-data"].payloads[0].data)["id"]))
        fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
        if "TemporalChangeVersion" in fields.indexed_fields:
            version_upserts += 1
    return patches, version_upserts


async def written(world: CaseWorld, count_sql: str, expected: int) -> None:
    """Wait (up to 10 s) until the case's bookkeeping, written beside the process, has
    reached the database: `count_sql` counts at least `expected`."""
    await eventually(
        lambda: rows(world, count_sql)[0][0], lambda count: count >= expected, seconds=10
    )


async def rows_when(world: CaseWorld, sql: str, expected: int) -> list[Any]:
    """The rows of `sql` once there are at least `expected` of them (waiting up to 10 s)."""
    return await eventually(
        lambda: rows(world, sql), lambda found: len(found) >= expected, seconds=10
    )


def rows(world: CaseWorld, sql: str) -> list[Any]:
    engine = create_engine(world.database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(sql)))
    finally:
        engine.dispose()


async def case_today(env: WorkflowEnvironment) -> date:
    """Today in the borrower's calendar (Shanghai) on the test server's clock, which time
    skipping moves ahead of the wall clock."""
    return (await env.get_current_time()).astimezone(BORROWER_TIMEZONE).date()


async def status_of(handle: WorkflowHandle[Any, Any]) -> dict[str, Any]:
    return dict(await handle.query(CollectionCase.status))


async def status_when(
    handle: WorkflowHandle[Any, Any], check: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The case's status once `check` holds (up to 10 s): an activity that a timer started
    during a time-skipping sleep may still be finishing when the sleep returns."""
    return await eventually(lambda: status_of(handle), check, seconds=10)


async def until_idle(handle: WorkflowHandle[Any, Any]) -> None:
    """Until the case is idle: no activity running, no workflow task open, and its history
    unchanged, twice in a row.

    The time-skipping test server mishandles work outstanding at the wrong moment: it never
    lets go of time skipping for an activity or workflow task of a case terminated meanwhile
    (temporalio/sdk-java#1138), and it refuses a workflow task that cancels an activity which
    completed in the same moment ("ACTIVITY_UNKNOWN", temporalio/sdk-typescript#1058), leaving
    the case stuck: a payment sent then waits for its answer for ever. That server never fills
    a description's `pending_workflow_task`, so an open workflow task is read from the history:
    its last workflow task event is a schedule or a start."""

    async def observed() -> tuple[bool, int]:
        raw = (await handle.describe()).raw_description
        events = [event.event_type async for event in handle.fetch_history_events()]
        last_task_event = next((kind for kind in reversed(events) if kind in TASK_EVENTS), None)
        busy = (
            bool(raw.pending_activities)
            or raw.HasField("pending_workflow_task")
            or last_task_event in OPEN_TASK_EVENTS
        )
        return busy, len(events)

    async def idle() -> bool:
        busy, length = await observed()
        if busy:
            return False
        await asyncio.sleep(0.05)
        return await observed() == (False, length)

    await eventually(idle, seconds=30)


TASK_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
}
OPEN_TASK_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
}


async def end_case(handle: WorkflowHandle[Any, Any], reason: str = "test over") -> None:
    """Terminate a case once it is idle (`until_idle`): every later test on the shared server
    would otherwise run on the wall clock (`tests.helpers.temporal.SharedTimeSkippingServer`
    catches what slips through)."""
    await until_idle(handle)
    await handle.terminate(reason)
