"""What a running case did after a message the test sent, read from its Temporal history.

Tests that assert an absence ("nothing was sent after the hold") read it here instead of
sleeping: what the case decided after the message is in its history, in order, so the test
knows when the case has decided and what it decided, without waiting for a clock.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHandle


async def events_after_last_update(handle: WorkflowHandle[Any, Any]) -> list[HistoryEvent]:
    """The case's history after it accepted the last update the test sent (all of it, if none)."""
    events = [event async for event in handle.fetch_history_events()]
    accepted = [
        index
        for index, event in enumerate(events)
        if event.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    return events[accepted[-1] + 1 :] if accepted else events


def activities_scheduled(events: list[HistoryEvent], activity_type: str) -> list[HistoryEvent]:
    return [
        event
        for event in events
        if event.HasField("activity_task_scheduled_event_attributes")
        and event.activity_task_scheduled_event_attributes.activity_type.name == activity_type
    ]


def cancel_requests(events: list[HistoryEvent]) -> list[HistoryEvent]:
    return [e for e in events if e.HasField("activity_task_cancel_requested_event_attributes")]


def first_sleep(events: list[HistoryEvent]) -> timedelta | None:
    """How long the case decided to sleep the first time it started a timer in `events`: the
    case has gone back to waiting, and wakes no sooner than this."""
    for event in events:
        if event.HasField("timer_started_event_attributes"):
            return event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
    return None


def has_slept(events: list[HistoryEvent]) -> bool:
    return first_sleep(events) is not None


def sleeps_longer_than(events: list[HistoryEvent], window: timedelta) -> bool:
    slept = first_sleep(events)
    return slept is not None and slept > window
