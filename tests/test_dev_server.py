"""The dev server as `make run` and `make bench` start it (settings.DEV_SERVER_ARGS)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

import settings
from tests.temporal_fixtures import server_binary
from workflows import search_attributes as attrs


async def test_the_dev_server_takes_its_settings_and_keeps_its_database_in_wal_mode(
    tmp_path: Path,
) -> None:
    database = tmp_path / "temporal.db"
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=server_binary("temporal"),
        dev_server_database_filename=str(database),
        dev_server_extra_args=list(settings.DEV_SERVER_ARGS),
        search_attributes=attrs.ALL,
        ui=False,
    )
    try:
        # The server answers, so the binary accepted every setting.
        assert (await env.client.count_workflows()).count == 0
        # WAL is recorded in the file itself; in rollback-journal mode this reads "delete".
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        await env.shutdown()
