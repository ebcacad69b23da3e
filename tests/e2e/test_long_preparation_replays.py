"""A case whose preparation outlasts a workflow task, run on the dev server and replayed."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.worker import Replayer, Worker

import contracts
from activities.case_activities import CollectionActivities
from tests.helpers.cases import case_input
from tests.helpers.eventually import eventually
from tests.helpers.temporal import CaseWorld, DevServer
from workflows.collection_case import CollectionCase


async def test_a_case_whose_preparation_outlasts_a_workflow_task_replays(
    dev_server: DevServer, case_world: CaseWorld
) -> None:
    """A preparation slower than the workflow task's timeout makes the SDK heartbeat the task;
    workflow time read after it differs between the live run and a replay. The case's clock
    must not depend on it: the live history replays, decision for decision."""
    real = CollectionActivities.from_env()

    @activity.defn(name=contracts.PREPARE_CASE)
    def slow_prepare(request: contracts.PrepareRequest) -> contracts.PreparedCase:
        time.sleep(5)  # beyond the 2 s workflow task timeout below: extended twice
        return real.prepare_case(request)

    kept = [a for a in real.all() if getattr(a, "__name__", "") != "prepare_case"]
    # Nine demo days (2 s each) overdue: the next ladder step is due within seconds, and a
    # clock off by the preparation's 2.5 s would decide it a day early or late on replay.
    data = case_input((datetime.now(UTC) - timedelta(days=9)).date(), policy="demo")
    async with Worker(
        dev_server.env.client,
        task_queue=case_world.task_queue,
        workflows=[CollectionCase],
        activities=[*kept, slow_prepare],
        activity_executor=ThreadPoolExecutor(4),
    ):
        handle = await dev_server.env.client.start_workflow(
            CollectionCase.run,
            data,
            id=f"collection-{data['loan_id']}",
            task_queue=case_world.task_queue,
            task_timeout=timedelta(seconds=2),
        )
        status = await eventually(
            lambda: handle.query(CollectionCase.status),
            lambda status: len(status["contacts"]) >= 3,
        )
        history = await handle.fetch_history()
        await handle.terminate("test over")

    assert len(status["contacts"]) >= 3
    assert any(e.HasField("marker_recorded_event_attributes") for e in history.events)
    await Replayer(workflows=[CollectionCase]).replay_workflow(history)
