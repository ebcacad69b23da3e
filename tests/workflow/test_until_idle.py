"""`until_idle`, which tests wait on before they send a case a message: the time-skipping server
strands a case whose workflow task cancels an activity completing in the same moment, so a
test must not speak to a case that is still busy."""

from __future__ import annotations

import asyncio
from datetime import time

from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from tests.helpers.cases import TASK_EVENTS, end_case, start_case, until_idle
from tests.helpers.temporal import CaseWorld, advance_to_local_time, make_worker


async def test_until_idle_waits_for_a_workflow_task_no_worker_has_taken_yet(
    time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    # Inside the contact window, so the case's first task starts a contact.
    await advance_to_local_time(time_env, time(11, 0))
    handle = await start_case(time_env, case_world, days_overdue=20)
    # No worker yet: the case's first workflow task waits, and the server describes no pending
    # workflow task and no activity.
    waiting = asyncio.create_task(until_idle(handle))
    await asyncio.sleep(1)
    assert not waiting.done(), "until_idle returned while the case's first task was open"

    async with make_worker(time_env.client, case_world):
        await asyncio.wait_for(waiting, 30)
        events = [event async for event in handle.fetch_history_events()]
        await end_case(handle)

    scheduled = {
        event.event_id
        for event in events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }
    # Each event that ends an activity names the activity's schedule (unset ones read 0).
    finished = {
        end.scheduled_event_id
        for event in events
        for end in (
            event.activity_task_completed_event_attributes,
            event.activity_task_failed_event_attributes,
            event.activity_task_timed_out_event_attributes,
            event.activity_task_canceled_event_attributes,
        )
    } - {0}
    # Idle: its first contact was started and has finished, and its last task completed.
    assert "queue_call" in {
        event.activity_task_scheduled_event_attributes.activity_type.name for event in events
    }
    assert scheduled and scheduled == finished
    last_task = [event.event_type for event in events if event.event_type in TASK_EVENTS][-1]
    assert last_task == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
