"""Workers for tests that replace some of the real activities by stand-ins."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.case_activities import CollectionActivities
from tests.helpers.temporal import CaseWorld, DevServer
from workflows.collection_case import CollectionCase


def worker_with(
    server: DevServer | WorkflowEnvironment,
    world: CaseWorld,
    real: CollectionActivities,
    *replaced: Callable[..., Any],
    also: Sequence[Callable[..., Any]] = (),
    workflows: Sequence[type] = (),
) -> Worker:
    """The real activities, except those `replaced` by stand-ins of the same name, and the
    activities and workflows a test adds (`also`, `workflows`) beside the cases."""
    names = {activity_name(stand_in) for stand_in in replaced}
    kept = [a for a in real.all() if activity_name(a) not in names]
    client = server.env.client if isinstance(server, DevServer) else server.client
    return Worker(
        client,
        task_queue=world.task_queue,
        workflows=[CollectionCase, *workflows],
        activities=[*kept, *replaced, *also],
        activity_executor=ThreadPoolExecutor(8),
        # Heartbeats reach the server at once, so a cancellation reaches the activity at once.
        default_heartbeat_throttle_interval=timedelta(milliseconds=50),
        max_heartbeat_throttle_interval=timedelta(milliseconds=50),
    )


def activity_name(fn: Callable[..., Any]) -> str:
    definition = activity._Definition.must_from_callable(fn)
    assert definition.name is not None
    return definition.name
