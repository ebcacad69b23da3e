"""The dev server as `make run` and `make bench` start it (settings.DEV_SERVER_ARGS)."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from contextlib import closing
from pathlib import Path

from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from runtime import settings
from tests.helpers.temporal import server_binary
from workflows import search_attributes as attrs

SHORT_TIMER_SECONDS = 0.1


@workflow.defn(sandboxed=False)
class ShortTimers:
    @workflow.run
    async def run(self) -> None:
        for _ in range(3):
            await asyncio.sleep(SHORT_TIMER_SECONDS)


async def test_the_dev_server_takes_its_settings(tmp_path: Path) -> None:
    database = tmp_path / "temporal.db"
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=server_binary("temporal"),
        dev_server_database_filename=str(database),
        dev_server_extra_args=list(settings.DEV_SERVER_ARGS),
        search_attributes=attrs.ALL,
        ui=False,
    )
    try:
        # WAL is recorded in the file itself; in rollback-journal mode this reads "delete".
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        # A short timer fires when due. With the server's default time shift (1 s) each of
        # these 100 ms timers fired about 900 ms late, which made a `demo` day 50% longer.
        async with Worker(
            env.client,
            task_queue="short-timers",
            workflows=[ShortTimers],
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):
            handle = await env.client.start_workflow(
                ShortTimers.run, id=f"short-timers-{uuid.uuid4()}", task_queue="short-timers"
            )
            await handle.result()
        history = await handle.fetch_history()
        started = {
            event.event_id: event.event_time.ToNanoseconds()
            for event in history.events
            if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED
        }
        lateness_ms = [
            (
                event.event_time.ToNanoseconds()
                - started[event.timer_fired_event_attributes.started_event_id]
            )
            / 1e6
            - SHORT_TIMER_SECONDS * 1000
            for event in history.events
            if event.event_type == EventType.EVENT_TYPE_TIMER_FIRED
        ]
        assert len(lateness_ms) == 3
        # The least late of three: a busy machine may delay one, not the server's floor all.
        assert min(lateness_ms) < 500, lateness_ms
    finally:
        await env.shutdown()
