"""The borrower's personal data stays out of Temporal's history: only the start input carries
it (the payload codec encrypts that one); activities read it from the case database by id.

A case runs on the real time-skipping test server with the real activities through every kind
of contact, and then every string and payload of its raw history is searched.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from cli import main as starter
from cli.borrower_backfill import backfill_borrowers
from migrations.tables import BorrowerRow
from tests.helpers.cases import case_input
from tests.helpers.databases import sqlite_store
from tests.helpers.eventually import eventually
from tests.helpers.personal_data import ADDRESS, EMAIL, NAME
from tests.helpers.temporal import DevServer


async def test_backfill_records_the_borrowers_of_open_cases_prepared_before(
    dev_server: DevServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """Cases opened by an earlier version have no `borrowers` row (no worker runs here, so
    nothing prepares them either): the backfill takes the details from their start inputs."""
    client = dev_server.env.client
    borrower_id = f"B-{uuid.uuid4().hex[:8]}"
    queue = f"no-worker-{uuid.uuid4().hex[:8]}"
    older = case_input(date.today() - timedelta(days=3))
    older["borrower"] = {**older["borrower"], "borrower_id": borrower_id}
    newer = case_input(date.today() - timedelta(days=3))
    newer["borrower"] = {**older["borrower"], "phone": "+8613900139000"}
    invalid = case_input(date.today())
    del invalid["borrower"]
    handles = []
    for data in (older, newer, invalid):
        handles.append(
            await client.start_workflow(
                "CollectionCase", data, id=f"collection-{data['loan_id']}", task_queue=queue
            )
        )
    store = sqlite_store(tmp_path)
    try:
        # Visibility is eventually consistent: the list catches up within seconds.
        report = await eventually(
            lambda: backfill_borrowers(client, store),
            lambda report: (
                handles[-1].id in report.unreadable and store.get(BorrowerRow, borrower_id)
            ),
            seconds=10,
        )
        again = await backfill_borrowers(client, store)
        row = store.get(BorrowerRow, borrower_id)
        # The operator's command does the same, and names the case it could not read.
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'collections.db'}")

        async def connect() -> Client:
            return client

        code = await starter.run(["backfill-borrowers"], connect=connect)
        printed = capsys.readouterr()
    finally:
        store.dispose()
        for handle in handles:
            await handle.terminate("test over")

    assert row is not None
    # Of two open cases of one borrower, the later one's details stand, however often it runs.
    assert (row.name, row.phone, row.email, row.address) == (NAME, "+8613900139000", EMAIL, ADDRESS)
    assert (row.timezone, row.locale) == ("Asia/Shanghai", "zh-CN")
    assert handles[-1].id in report.unreadable and handles[0].id not in report.unreadable
    assert again.recorded >= 2
    assert code == 1
    assert "recorded the borrowers of" in printed.out
    assert f"{handles[-1].id}: its start input names no valid borrower" in printed.err
