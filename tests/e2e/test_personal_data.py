"""The borrower's personal data stays out of Temporal's history: only the start input carries
it (the payload codec encrypts that one); activities read it from the case database by id.

A case runs on the real time-skipping test server with the real activities through every kind
of contact, and then every string and payload of its raw history is searched.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

import starter
from cli.borrower_backfill import backfill_borrowers
from migrations.tables import BorrowerRow
from tests.helpers.cases import case_input, rows, start_case
from tests.helpers.databases import sqlite_store
from tests.helpers.temporal import CaseWorld, DevServer, make_worker

PERSONAL = case_input(date.today())["borrower"]
NAME, PHONE, EMAIL, ADDRESS = (PERSONAL[key] for key in ("name", "phone", "email", "address"))
# The number without its "+" as well: a payload may hold it in any shape.
NEEDLES = (NAME, PHONE, PHONE.lstrip("+"), EMAIL, ADDRESS)


def payload_text(payload: Payload) -> str:
    """A payload as text: JSON decoded (the converter escapes non-ASCII as \\uXXXX), else raw."""
    try:
        return json.dumps(json.loads(payload.data), ensure_ascii=False)
    except ValueError:
        return payload.data.decode("utf-8", "replace")


def texts_of(message: Message) -> Iterator[str]:
    """Every string, byte string and payload anywhere in `message`, as text."""
    if isinstance(message, Payload):
        yield payload_text(message)
        yield from (value.decode("utf-8", "replace") for value in message.metadata.values())
        return
    for field, value in message.ListFields():
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            for key, item in value.items():
                yield str(key)
                yield from _texts_of_value(item)
        elif field.is_repeated:
            for item in value:
                yield from _texts_of_value(item)
        else:
            yield from _texts_of_value(value)


def _texts_of_value(value: Any) -> Iterator[str]:
    if isinstance(value, Message):
        yield from texts_of(value)
    elif isinstance(value, bytes):
        yield value.decode("utf-8", "replace")
    elif isinstance(value, str):
        yield value


def leaks(message: Message) -> list[str]:
    """The personal data found anywhere in `message`."""
    text = "\n".join(texts_of(message))
    return [needle for needle in NEEDLES if needle in text]


async def test_personal_data_appears_in_no_payload_but_the_start_input(
    time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    async with make_worker(time_env.client, case_world):
        handle = await start_case(
            time_env, case_world, days_overdue=0, policy="demo", borrower=PERSONAL
        )
        result = await handle.result()
        history = await handle.fetch_history()
        description = await handle.describe()
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)

    # The case went through every kind of contact, and each reached the borrower.
    channels = {contact["channel"] for contact in result["contacts"]}
    assert {"sms", "email", "letter", "call", "field_visit", "legal"} <= channels
    recipients = dict(
        rows(
            case_world, "select channel, recipient from contact_attempts where status != 'skipped'"
        )
    )
    assert recipients == {
        "sms": PHONE,
        "email": EMAIL,
        "letter": ADDRESS,
        "call": PHONE,
        "field_visit": ADDRESS,
        "legal": None,
    }
    bodies = rows(case_world, "select body from contact_attempts where channel = 'sms'")
    assert all(NAME in body for (body,) in bodies)

    started, *later = history.events
    # The start input is the one payload with the details (the search finds them there)...
    start_input = started.workflow_execution_started_event_attributes.input
    assert leaks(start_input) == list(NEEDLES)
    # ...and the rest of the start event, and every later event, holds none of them.
    rest_of_start = HistoryEvent()
    rest_of_start.CopyFrom(started)
    rest_of_start.workflow_execution_started_event_attributes.ClearField("input")
    found = {
        f"{event.event_id} {EventType.Name(event.event_type)}": leak
        for event in [rest_of_start, *later]
        if (leak := leaks(event))
    }
    assert found == {}
    # The search did see the activities' inputs: the borrower by id.
    scheduled = [
        event.activity_task_scheduled_event_attributes
        for event in later
        if event.HasField("activity_task_scheduled_event_attributes")
    ]
    contact_inputs = [
        json.loads(attributes.input.payloads[0].data)
        for attributes in scheduled
        if attributes.activity_type.name in ("send_notice", "queue_call", "book_field_visit")
    ]
    assert contact_inputs and {entry["borrower_id"] for entry in contact_inputs} == {
        PERSONAL["borrower_id"]
    }
    assert all("borrower" not in entry for entry in contact_inputs)
    # Nor do the UI's summary, current details and search attributes.
    assert "Last contacts" in metadata.current_details
    shown = [str(description.static_summary), metadata.current_details]
    shown += [str(pair.value) for pair in description.typed_search_attributes]
    assert not [needle for needle in NEEDLES if any(needle in text for text in shown)]

    # The lawyers' evidence package still names the borrower, from the case database.
    case_file = case_world.evidence_dir / result["loan_id"] / "case.json"
    evidence = json.loads(case_file.read_text())
    assert {key: evidence["borrower"][key] for key in ("name", "phone", "email", "address")} == {
        "name": NAME,
        "phone": PHONE,
        "email": EMAIL,
        "address": ADDRESS,
    }


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
        for _ in range(50):
            report = await backfill_borrowers(client, store)
            if handles[-1].id in report.unreadable and store.get(BorrowerRow, borrower_id):
                break
            await asyncio.sleep(0.2)
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
