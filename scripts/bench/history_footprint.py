"""What one workflow history costs: events, bytes, tasks, visibility writes and Temporal Cloud
billable actions, counted from the history alone (pure functions, no server).

Billable actions follow Temporal Cloud's published definition,
https://docs.temporal.io/cloud/actions (read 2026-12-04). Counted from the history:

- workflow started: `WORKFLOW_EXECUTION_STARTED` (a continue-as-new is counted here too, in the
  new run's history, not at `WORKFLOW_EXECUTION_CONTINUED_AS_NEW`);
- timer started: `TIMER_STARTED`;
- activity started: `ACTIVITY_TASK_SCHEDULED`, and each retry: `attempt - 1` on
  `ACTIVITY_TASK_STARTED` (only the last attempt has one);
- local activities and other markers: all `MARKER_RECORDED` of one workflow task count once
  ("all RecordMarkers from each Workflow Task as one action"); the page names local activities
  and side effects, so counting a task whose only markers are patch (version) markers is the
  upper reading: `marker_tasks_patch_only` says how many such tasks there were;
- local activity retries: `metering_metadata.nonfirst_local_activity_execution_attempts` on
  `WORKFLOW_TASK_COMPLETED`;
- search attribute upsert: `UPSERT_WORKFLOW_SEARCH_ATTRIBUTES`, except one that sets only
  `TemporalChangeVersion` (the SDK's record of a patch, exempt by the page); attributes given
  at start are free;
- signal received: `WORKFLOW_EXECUTION_SIGNALED`; update accepted:
  `WORKFLOW_EXECUTION_UPDATE_ACCEPTED`;
- child workflow: `START_CHILD_WORKFLOW_EXECUTION_INITIATED` counts 2 (the intent and the start);
- Nexus: `NEXUS_OPERATION_SCHEDULED`, `NEXUS_OPERATION_CANCEL_REQUESTED`;
- options updated: `WORKFLOW_EXECUTION_OPTIONS_UPDATED`; reset: `WORKFLOW_TASK_FAILED` with
  cause `RESET_WORKFLOW`.

Billable but absent from any history, so not counted here: queries (the desk's and the UI's
`status` reads), activity heartbeats, rejected updates, workflow task heartbeats, exports.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

from figures import CLOSED
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent

# The search attribute the SDK upserts to record a patch; Temporal Cloud does not bill it.
CHANGE_VERSION = "TemporalChangeVersion"
LOCAL_ACTIVITY_MARKER = "core_local_activity"

# Events that are one billable action each, under the action's name on the actions page.
_ONE_ACTION = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: "workflow_started",
    EventType.EVENT_TYPE_TIMER_STARTED: "timer_started",
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "activity_started",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: "signal",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: "update",
    EventType.EVENT_TYPE_NEXUS_OPERATION_SCHEDULED: "nexus",
    EventType.EVENT_TYPE_NEXUS_OPERATION_CANCEL_REQUESTED: "nexus",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED: "options_updated",
}


def type_name(event: HistoryEvent) -> str:
    return EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")


def events_by_type(events: Sequence[HistoryEvent]) -> dict[str, int]:
    """Event type -> how many, most frequent first."""
    return dict(Counter(type_name(event) for event in events).most_common())


def history_bytes(events: Sequence[HistoryEvent]) -> int:
    """The history's size as Temporal serialises it: the sum of each event's `ByteSize()`."""
    return sum(event.ByteSize() for event in events)


def _count(events: Sequence[HistoryEvent], event_type: int) -> int:
    return sum(1 for event in events if event.event_type == event_type)


def workflow_tasks(events: Sequence[HistoryEvent]) -> int:
    return _count(events, EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)


def activity_tasks(events: Sequence[HistoryEvent]) -> int:
    """Activity tasks a worker ran to their end (only the last attempt has a Started event)."""
    return _count(events, EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)


def _upsert_keys(event: HistoryEvent) -> set[str]:
    attributes = event.upsert_workflow_search_attributes_event_attributes
    return set(attributes.search_attributes.indexed_fields.keys())


def visibility_writes(events: Sequence[HistoryEvent]) -> dict[str, int]:
    """Writes to the visibility store: the start, every upsert (patch records included: they
    are written like any other attribute), and the close."""
    start = _count(events, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)
    upserts = _count(events, EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES)
    close = sum(1 for event in events if event.event_type in CLOSED)
    return {"start": start, "upserts": upserts, "close": close, "total": start + upserts + close}


def _marker_tasks(events: Sequence[HistoryEvent]) -> tuple[int, int]:
    """(workflow tasks that recorded a marker, those whose markers were all patch markers)."""
    names: dict[int, set[str]] = {}
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            attributes = event.marker_recorded_event_attributes
            names.setdefault(attributes.workflow_task_completed_event_id, set()).add(
                attributes.marker_name
            )
    patch_only = sum(1 for found in names.values() if all("patch" in name for name in found))
    return len(names), patch_only


def _event_actions(event: HistoryEvent) -> tuple[str, int] | None:
    """The billable action one event stands for, and how many, when it is not a marker."""
    kind = _ONE_ACTION.get(event.event_type)
    if kind is not None:
        return kind, 1
    if event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
        return "search_attribute_upsert", int(bool(_upsert_keys(event) - {CHANGE_VERSION}))
    if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        return "activity_retry", max(0, event.activity_task_started_event_attributes.attempt - 1)
    if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
        metering = event.workflow_task_completed_event_attributes.metering_metadata
        return "local_activity_retry", metering.nonfirst_local_activity_execution_attempts
    if event.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
        return "child_workflow", 2
    if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
        reset = WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW
        return "reset", int(event.workflow_task_failed_event_attributes.cause == reset)
    return None


def billable_actions(events: Sequence[HistoryEvent]) -> dict[str, Any]:
    """Temporal Cloud billable actions by kind and in total (see the module's docstring)."""
    kinds: Counter[str] = Counter()
    for event in events:
        found = _event_actions(event)
        if found is not None and found[1]:
            kinds[found[0]] += found[1]
    marker_tasks, patch_only = _marker_tasks(events)
    if marker_tasks:
        kinds["marker_tasks"] = marker_tasks
    return {
        "total": sum(kinds.values()),
        "by_kind": dict(kinds.most_common()),
        "marker_tasks_patch_only": patch_only,
    }


def wakes(events: Sequence[HistoryEvent], timezone: str) -> list[dict[str, Any]]:
    """The history cut at each fired timer: what each wake-up cost, and when (local time)."""
    pieces: list[list[HistoryEvent]] = []
    for event in events:
        if not pieces or event.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
            pieces.append([])
        pieces[-1].append(event)
    zone = ZoneInfo(timezone)
    return [
        {
            "local": piece[0].event_time.ToDatetime(UTC).astimezone(zone).isoformat("T", "seconds"),
            "events": len(piece),
            "workflow_tasks": workflow_tasks(piece),
            "activity_tasks": activity_tasks(piece),
            "actions": billable_actions(piece)["total"],
            "activities": [
                event.activity_task_scheduled_event_attributes.activity_type.name
                for event in piece
                if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            ],
        }
        for piece in pieces
    ]


def history_footprint(events: Sequence[HistoryEvent], timezone: str) -> dict[str, Any]:
    """Everything above for one history, as the benchmark reports it."""
    return {
        "events": len(events),
        "events_by_type": events_by_type(events),
        "bytes": history_bytes(events),
        "workflow_tasks": workflow_tasks(events),
        "activity_tasks": activity_tasks(events),
        "visibility_writes": visibility_writes(events),
        "billable_actions": billable_actions(events),
        "wakes": wakes(events, timezone),
    }
