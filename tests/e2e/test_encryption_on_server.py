"""Encryption of the cases' payloads on the Temporal dev server: what a history holds in clear
text, and what a worker accepts."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.converter import DataConverter, PayloadCodec

from caseclient.messages import workflow_id
from cli.cases import open_case
from runtime import encryption
from runtime.encryption import (
    ENCRYPTED_ENCODING,
    ENCRYPTION_KEYS_ENV,
    ENCRYPTION_SCOPE_ENV,
    EncryptionCodec,
    EncryptionConfigError,
)
from runtime.payloads import CasePayloadConverter
from tests.helpers.cases import case_input
from tests.helpers.codecs import key_entry
from tests.helpers.eventually import eventually
from tests.helpers.temporal import CaseWorld, DevServer, make_worker
from workflows.collection_case import CollectionCase


async def test_a_case_history_holds_no_personal_data_in_clear_text(
    dev_server: DevServer, case_world: CaseWorld, encrypted: Client
) -> None:
    plain_client = dev_server.env.client  # Temporal's default converter: no codec
    now = datetime.now(UTC)
    raw = case_input((now - timedelta(days=5)).date(), policy="demo")
    wf_id = workflow_id(raw["loan_id"])
    # The worker gets the plain client and adds the codec itself (the contract's embedding).
    async with make_worker(plain_client, case_world) as running:
        assert isinstance(running.client.data_converter.payload_codec, EncryptionCodec)
        assert plain_client.data_converter.payload_codec is None  # the caller's is untouched
        opened = await open_case(encrypted, raw, now=now)  # as `starter.py open` does
        assert opened.outcome == "opened"
        handle = encrypted.get_workflow_handle(wf_id)
        status = await wait_for_contacts(handle)  # preparation done, a reminder sent
        assert status["stage"] in {"reminder", "phone"}
        history = await plain_client.get_workflow_handle(wf_id).fetch_history()
        await handle.terminate("test over")

    found = needles(raw["borrower"])
    in_clear: list[str] = []
    encrypted_paths: set[str] = set()
    decoded_input: Any = None
    decoded_data = b""
    codec = encrypted.data_converter.payload_codec
    assert isinstance(codec, EncryptionCodec)
    for event in history.events:
        # Anywhere in the event (payloads, failures, summaries), not only in payloads.
        raw_event = event.SerializeToString()
        in_clear += [field for field, forms in found.items() if any(n in raw_event for n in forms)]
        for path, payload in walk_payloads(event):
            if "search_attributes" in path or path.endswith(SDK_BOOKKEEPING):
                continue  # never encrypted (the server indexes them, the SDK reads them)
            assert payload.metadata["encoding"] == ENCRYPTED_ENCODING, (event.event_type, path)
            assert payload.metadata["encryption-key-id"] == b"k2"  # the first key encrypts
            encrypted_paths.add(f"{EventType.Name(event.event_type)}{path}")
            # The same history decodes through the codec.
            [clear] = await codec.decode([payload])
            decoded_data += clear.data
            value = DataConverter.default.payload_converter.from_payload(clear)
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED and (
                path.endswith(".input.payloads")
            ):
                decoded_input = value
    assert in_clear == [], f"personal data in clear text in the history: {in_clear}"
    # The search above looks for the right bytes: decoded, every value is there.
    assert all(any(n in decoded_data for n in forms) for forms in found.values())
    assert decoded_input is not None and decoded_input["borrower"]["name"] == "王小明"
    assert decoded_input["borrower"]["phone"] == raw["borrower"]["phone"]
    # Encrypted: the start input, its memo and summary, activity inputs and results.
    marker = "EVENT_TYPE_MARKER_RECORDED.marker_recorded_event_attributes.details"
    assert {
        f"{marker}[result].payloads",
        "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED.user_metadata.summary",
        "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED.workflow_execution_started_event_attributes"
        ".input.payloads",
        "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED.workflow_execution_started_event_attributes"
        ".memo.fields[currency]",
        "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED.activity_task_scheduled_event_attributes"
        ".input.payloads",
        "EVENT_TYPE_ACTIVITY_TASK_COMPLETED.activity_task_completed_event_attributes"
        ".result.payloads",
    } <= encrypted_paths, sorted(encrypted_paths)


async def test_a_plain_json_payment_signal_reaches_an_encrypted_case(
    dev_server: DevServer, case_world: CaseWorld, encrypted: Client
) -> None:
    plain_client = dev_server.env.client
    raw = case_input((datetime.now(UTC) - timedelta(days=3)).date())
    wf_id = workflow_id(raw["loan_id"])
    async with make_worker(plain_client, case_world):
        handle = await encrypted.start_workflow(
            CollectionCase.run, raw, id=wf_id, task_queue=case_world.task_queue
        )
        # A payment system without the codec: the SDK's default converter, and the HTTP API.
        await plain_client.get_workflow_handle(wf_id).signal(
            "payment_received",
            {"payment_id": "psp-1", "amount_minor": 100000, "currency": "CNY"},
        )
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.post(
                f"http://127.0.0.1:{dev_server.http_port}/api/v1/namespaces/default/"
                f"workflows/{wf_id}/signal/payment_received",
                json={"input": [{"payment_id": "psp-2", "amount_minor": 50000,
                                 "currency": "CNY"}]},
            )  # fmt: skip
        assert answer.status_code == 200, answer.text
        status = await eventually(
            lambda: handle.query(CollectionCase.status),
            lambda status: len(status["payments"]) == 2,
        )
        assert [p["payment_id"] for p in status["payments"]] == ["psp-1", "psp-2"]
        assert status["outstanding_minor"] == 350000
        # With encryption on, answers are encrypted too: reading them needs the codec
        # (documented in the README; off by default, so the contract's plain JSON holds).
        with pytest.raises(Exception, match="binary/encrypted"):
            await plain_client.get_workflow_handle(wf_id).query(CollectionCase.status)
        await handle.terminate("test over")


async def test_by_default_only_personal_data_is_sealed_and_answers_stay_plain_json(
    dev_server: DevServer, case_world: CaseWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENCRYPTION_KEYS_ENV, key_entry("k1"))
    monkeypatch.delenv(ENCRYPTION_SCOPE_ENV, raising=False)
    encrypted = encryption.with_encryption_from_env(dev_server.env.client)
    plain_client = dev_server.env.client
    now = datetime.now(UTC)
    raw = case_input((now - timedelta(days=5)).date(), policy="demo")
    wf_id = workflow_id(raw["loan_id"])
    async with make_worker(plain_client, case_world):
        assert (await open_case(encrypted, raw, now=now)).outcome == "opened"
        await wait_for_contacts(encrypted.get_workflow_handle(wf_id))
        # A client with Temporal's default converter reads answers as plain JSON objects.
        plain = plain_client.get_workflow_handle(wf_id)
        status = await plain.query(CollectionCase.status)
        assert status["loan_id"] == raw["loan_id"] and status["contacts"]
        answer = await plain.execute_update(
            "record_payment", {"payment_id": "p-1", "amount_minor": 1000, "currency": "CNY"}
        )
        assert answer["applied"] is True
        history = await plain.fetch_history()
        await plain.terminate("test over")

    found = needles(raw["borrower"])
    sealed = []
    for event in history.events:
        raw_event = event.SerializeToString()
        assert not [f for f, forms in found.items() if any(n in raw_event for n in forms)]
        sealed += [
            f"{EventType.Name(event.event_type)}{path}"
            for path, payload in walk_payloads(event)
            if payload.metadata["encoding"] == ENCRYPTED_ENCODING
        ]
    # The start input, and nothing else, was sealed: it alone carried the contact details.
    assert sealed == [
        "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED.workflow_execution_started_event_attributes"
        ".input.payloads"
    ]


async def test_create_worker_keeps_the_client_when_encryption_is_off(
    dev_server: DevServer, case_world: CaseWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENCRYPTION_KEYS_ENV, raising=False)
    client = dev_server.env.client
    worker_client = make_worker(client, case_world).client
    # The same connection, no codec; only the payload converter is the worker's own (the same
    # wire format: runtime.payloads).
    assert worker_client.service_client is client.service_client
    assert worker_client.data_converter.payload_codec is None
    assert worker_client.data_converter.payload_converter_class is CasePayloadConverter


async def test_create_worker_refuses_a_client_with_another_codec(
    dev_server: DevServer, case_world: CaseWorld, encrypted: Client
) -> None:
    config = dev_server.env.client.config()
    config["data_converter"] = DataConverter(payload_codec=MarkingCodec())
    with pytest.raises(EncryptionConfigError, match=rf"{ENCRYPTION_KEYS_ENV} is set.*MarkingCodec"):
        make_worker(Client(**config), case_world)
    # A client that already encrypts keeps its codec and its connection.
    worker_client = make_worker(encrypted, case_world).client
    assert worker_client.service_client is encrypted.service_client
    assert worker_client.data_converter.payload_codec is encrypted.data_converter.payload_codec


# A local activity's marker: the SDK's own record of it (activity type, attempt, times) stays
# plain JSON; its result, beside it, goes through the codec.
# A patch's marker (`workflow.patched`): the SDK's record of the patch id, plain JSON too.
SDK_BOOKKEEPING = (
    ".marker_recorded_event_attributes.details[data].payloads",
    ".marker_recorded_event_attributes.details[patch-data].payloads",
)


# --------------------------------------------------------------------------------------
# Whole cases on the real dev server, with encryption on
# --------------------------------------------------------------------------------------
class MarkingCodec(PayloadCodec):
    """Another system's codec (here: one that changes nothing)."""

    async def encode(self, payloads: Any) -> list[Payload]:
        return list(payloads)

    async def decode(self, payloads: Any) -> list[Payload]:
        return list(payloads)


@pytest_asyncio.fixture
async def encrypted(
    monkeypatch: pytest.MonkeyPatch, dev_server: DevServer
) -> AsyncIterator[Client]:
    """Encryption of every payload on; yields a client with the codec, as
    `settings.connect_client()` gives."""
    monkeypatch.setenv(ENCRYPTION_KEYS_ENV, f"{key_entry('k2')},{key_entry('k1')}")
    monkeypatch.setenv(ENCRYPTION_SCOPE_ENV, "all")
    yield encryption.with_encryption_from_env(dev_server.env.client)


def walk_payloads(message: Message, path: str = "") -> Iterator[tuple[str, Payload]]:
    """Every Payload inside a protobuf message, with the field path that leads to it."""
    if isinstance(message, Payload):
        yield path, message
        return
    for field, value in message.ListFields():
        if field.type != FieldDescriptor.TYPE_MESSAGE or field.message_type is None:
            continue
        where = f"{path}.{field.name}"
        if field.message_type.GetOptions().map_entry:
            for key, item in value.items():
                if isinstance(item, Message):
                    yield from walk_payloads(item, f"{where}[{key}]")
        elif field.is_repeated:
            for item in value:
                yield from walk_payloads(item, where)
        else:
            yield from walk_payloads(value, where)


def needles(borrower: dict[str, str]) -> dict[str, list[bytes]]:
    """Each personal value as UTF-8 and as JSON writes it (non-ASCII escaped)."""
    return {
        field: [
            borrower[field].encode(),
            json.dumps(borrower[field], ensure_ascii=True)[1:-1].encode(),
        ]
        for field in PERSONAL_FIELDS
    }


async def wait_for_contacts(handle: WorkflowHandle[Any, Any]) -> dict[str, Any]:
    status: dict[str, Any] = await eventually(
        lambda: handle.query(CollectionCase.status), lambda status: status["contacts"], seconds=30
    )
    return status


PERSONAL_FIELDS = ("name", "phone", "email", "address")
