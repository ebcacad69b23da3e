"""Latencies read from workflow histories, using nothing but Temporal's own event types.

Every figure covers what was due before a cutoff (the moment the benchmark started reading
histories), so reading them does not slow down what is measured, and, where a `since` is
given, only what was due from then on (one phase of the run). A timer due, or an activity
scheduled, before the cutoff that is still pending when its history is read counts as late
until that read (a lower bound): an overloaded run cannot hide its worst cases that way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

NS_PER_MS = 1_000_000

# The events that end a run.
CLOSED = frozenset(
    {
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
    }
)


@dataclass(frozen=True)
class ReadHistory:
    """A history's events and when it was read (Unix ns)."""

    events: Sequence[HistoryEvent]
    read_at_ns: int

    def pending_until(self) -> int | None:
        """Until when a still-pending timer or activity waited: the read, unless the run closed."""
        if self.events and self.events[-1].event_type in CLOSED:
            return None
        return self.read_at_ns


def _ns(event: HistoryEvent) -> int:
    return event.event_time.ToNanoseconds()


def _timers(history: ReadHistory) -> tuple[dict[int, int], dict[int, int]]:
    """By TimerStarted event id: when each timer not cancelled was due, and when each fired
    (Unix ns)."""
    due: dict[int, int] = {}
    fired: dict[int, int] = {}
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            timeout = event.timer_started_event_attributes.start_to_fire_timeout
            due[event.event_id] = _ns(event) + timeout.ToNanoseconds()
        elif event.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
            fired[event.timer_fired_event_attributes.started_event_id] = _ns(event)
        elif event.event_type == EventType.EVENT_TYPE_TIMER_CANCELED:
            due.pop(event.timer_canceled_event_attributes.started_event_id, None)
    return due, fired


def timer_lateness_ms(history: ReadHistory, cutoff_ns: int, since_ns: int = 0) -> list[float]:
    """TimerFired time minus (TimerStarted time + start_to_fire_timeout), timers due by cutoff."""
    due, fired = _timers(history)
    return _delays(due, fired, history.pending_until(), since_ns, cutoff_ns)


def timer_due_and_lateness(history: ReadHistory) -> list[tuple[int, float]]:
    """(due Unix ns, lateness ms) of every fired timer: where in a run the late ones fall."""
    due, fired = _timers(history)
    return [(due[key], (at - due[key]) / NS_PER_MS) for key, at in fired.items()]


def schedule_to_start_ms(history: ReadHistory, cutoff_ns: int, since_ns: int = 0) -> list[float]:
    """ActivityTaskStarted time minus ActivityTaskScheduled time, activities scheduled by cutoff.

    The server writes the Started event only when the attempt ends, but stamps it with the
    time the worker picked the task up. Only the last attempt has a Started event; a retried
    activity's wait includes its retry backoff.
    """
    scheduled: dict[int, int] = {}
    started: dict[int, int] = {}
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[event.event_id] = _ns(event)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started[event.activity_task_started_event_attributes.scheduled_event_id] = _ns(event)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
            cancelled = event.activity_task_canceled_event_attributes.scheduled_event_id
            if cancelled not in started:  # cancelled before any worker took it
                scheduled.pop(cancelled, None)
    return _delays(scheduled, started, history.pending_until(), since_ns, cutoff_ns)


def _delays(
    expected: dict[int, int],
    happened: dict[int, int],
    pending_until: int | None,
    since_ns: int,
    cutoff_ns: int,
) -> list[float]:
    delays = []
    for key, at in expected.items():
        if not since_ns <= at <= cutoff_ns:
            continue
        actual = happened.get(key, pending_until)
        if actual is not None:
            delays.append((actual - at) / NS_PER_MS)
    return delays


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile (`fraction` 0.99 for p99); None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]
