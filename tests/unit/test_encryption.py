"""Encryption of Temporal payloads: the codec, its keys, the codec server over real HTTP, and
whole cases on the real dev server whose history holds no personal data in clear text."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.converter import DataConverter, PayloadCodec

import starter
from cli.cases import open_case, workflow_id
from cli.codec_server import CodecHTTPServer, CodecServerConfig, start_in_thread
from runtime import encryption, settings
from runtime.encryption import (
    ENCRYPTED_ENCODING,
    ENCRYPTION_KEYS_ENV,
    ENCRYPTION_SCOPE_ENV,
    EncryptionCodec,
    EncryptionConfigError,
    PayloadDecryptionError,
)
from tests.helpers.cases import case_input
from tests.helpers.paths import PROJECT_DIR
from tests.helpers.temporal import CaseWorld, DevServer, free_port, make_worker
from workflows.collection_case import CollectionCase

UI_ORIGIN = "http://localhost:8233"
PERSONAL_FIELDS = ("name", "phone", "email", "address")
# A local activity's marker: the SDK's own record of it (activity type, attempt, times) stays
# plain JSON; its result, beside it, goes through the codec.
LOCAL_ACTIVITY_BOOKKEEPING = ".marker_recorded_event_attributes.details[data].payloads"


def key_entry(key_id: str) -> str:
    return encryption.new_key_entry(key_id)


def codec_of(*entries: str, scope: str = encryption.SCOPE_ALL) -> EncryptionCodec:
    return EncryptionCodec(encryption.parse_keys(",".join(entries)), scope)


def json_payloads(*values: Any) -> list[Payload]:
    return DataConverter.default.payload_converter.to_payloads(list(values))


# --------------------------------------------------------------------------------------
# The codec and its keys
# --------------------------------------------------------------------------------------
async def test_codec_round_trip_hides_the_data_and_names_the_key() -> None:
    codec = codec_of(key_entry("k1"))
    plain = json_payloads({"name": "王小明", "phone": "+8613800138000"}, 42)
    encoded = await codec.encode(plain)
    for payload in encoded:
        assert payload.metadata["encoding"] == ENCRYPTED_ENCODING
        assert payload.metadata["encryption-key-id"] == b"k1"
        assert b"+8613800138000" not in payload.data
        assert b"json/plain" not in payload.data  # the original metadata is sealed too
    # A fresh nonce each time: the same value never encrypts to the same bytes.
    assert (await codec.encode(plain))[0].data != encoded[0].data
    assert await codec.decode(encoded) == plain


async def test_the_personal_scope_seals_what_carries_a_borrower_and_nothing_else() -> None:
    codec = codec_of(key_entry("k1"), scope=encryption.SCOPE_PERSONAL)
    case = {"loan_id": "L-1", "borrower": {"borrower_id": "B-1", "phone": "+8613800138000"}}
    answer = {"loan_id": "L-1", "status": "active"}
    sealed, plain = await codec.encode(json_payloads(case, answer))
    assert sealed.metadata["encoding"] == ENCRYPTED_ENCODING
    assert b"+8613800138000" not in sealed.data
    assert plain == json_payloads(answer)[0]
    assert await codec.decode([sealed, plain]) == json_payloads(case, answer)


async def test_rotation_the_first_key_encrypts_every_listed_key_decrypts() -> None:
    old, new = key_entry("key1"), key_entry("key2")
    before = codec_of(old)
    after = codec_of(new, old)
    written_before = await before.encode(json_payloads({"loan_id": "L-1"}))
    assert await after.decode(written_before) == json_payloads({"loan_id": "L-1"})
    written_after = await after.encode(json_payloads({"loan_id": "L-2"}))
    assert written_after[0].metadata["encryption-key-id"] == b"key2"
    # A process still on the old keys cannot read what the new key wrote: it names the key.
    with pytest.raises(PayloadDecryptionError, match=r"'key2'.*known: key1"):
        await before.decode(written_after)


async def test_payloads_without_the_encrypted_encoding_pass_through() -> None:
    codec = codec_of(key_entry("k1"))
    plain = json_payloads({"payment_id": "psp-1", "amount_minor": 100}, None)
    assert await codec.decode(plain) == plain
    converter = encryption.encrypting_converter(encryption.parse_keys(key_entry("k1")))
    assert await converter.decode(plain, [dict, type(None)]) == [
        {"payment_id": "psp-1", "amount_minor": 100},
        None,
    ]


async def test_tampered_ciphertext_or_key_id_fails_authentication() -> None:
    first, second = key_entry("k1"), key_entry("k2")
    codec = codec_of(first, second)
    [payload] = await codec.encode(json_payloads({"amount_minor": 500000}))
    flipped = Payload()
    flipped.CopyFrom(payload)
    flipped.data = payload.data[:-1] + bytes([payload.data[-1] ^ 1])
    with pytest.raises(PayloadDecryptionError, match="'k1' failed authentication"):
        await codec.decode([flipped])
    relabelled = Payload()
    relabelled.CopyFrom(payload)
    relabelled.metadata["encryption-key-id"] = b"k2"  # the key id is bound to the ciphertext
    with pytest.raises(PayloadDecryptionError, match="'k2' failed authentication"):
        await codec.decode([relabelled])


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("k1", "entry 1: must be key-id:base64-key"),
        ("bad id:AAAA", "entry 1: key id must be"),
        ("k1:not base64!", "key 'k1': is not valid base64"),
        ("k1:" + base64.b64encode(b"sixteen byte key").decode(), "key 'k1': must be 32 bytes"),
        ("KEY,k2", "entry 2: must be key-id:base64-key"),
        ("KEY,", "entry 2: must be key-id:base64-key"),
    ],
)
def test_a_bad_keys_value_is_an_error_naming_the_variable(value: str, problem: str) -> None:
    good = key_entry("k1")
    value = value.replace("KEY", good)
    with pytest.raises(EncryptionConfigError) as raised:
        encryption.keys_from_env({ENCRYPTION_KEYS_ENV: value})
    message = str(raised.value)
    assert message.startswith(f"{ENCRYPTION_KEYS_ENV}: ")
    assert problem in message
    assert good.split(":")[1] not in message  # key material never in a message


def test_a_key_listed_twice_is_refused() -> None:
    entry = key_entry("k1")
    with pytest.raises(EncryptionConfigError, match=f"{ENCRYPTION_KEYS_ENV}: key 'k1': listed"):
        encryption.parse_keys(f"{entry},{entry}")


def test_encryption_is_off_when_the_variable_is_unset_or_empty(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENCRYPTION_KEYS_ENV, raising=False)
    assert encryption.converter_from_env() is DataConverter.default
    monkeypatch.setenv(ENCRYPTION_KEYS_ENV, "  ")
    assert encryption.converter_from_env() is DataConverter.default
    monkeypatch.setenv(ENCRYPTION_KEYS_ENV, key_entry("k1"))
    codec = encryption.converter_from_env().payload_codec
    assert isinstance(codec, EncryptionCodec) and codec.key_ids == ("k1",)


async def test_clients_and_commands_refuse_a_bad_keys_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ENCRYPTION_KEYS_ENV, "k1:AAAA")
    with pytest.raises(EncryptionConfigError, match=ENCRYPTION_KEYS_ENV):
        await settings.connect_client()
    assert await starter.run(["codec-server"]) == 2
    assert f"invalid configuration: {ENCRYPTION_KEYS_ENV}: key 'k1'" in capsys.readouterr().err
    monkeypatch.delenv(ENCRYPTION_KEYS_ENV)
    assert await starter.run(["codec-server"]) == 2
    assert f"{ENCRYPTION_KEYS_ENV} is not set" in capsys.readouterr().err
    monkeypatch.setenv(ENCRYPTION_KEYS_ENV, key_entry("k1"))
    monkeypatch.setenv("CODEC_SERVER_PORT", "eighty")
    assert await starter.run(["codec-server"]) == 2
    assert "CODEC_SERVER_PORT: 'eighty' is not a port number" in capsys.readouterr().err


# --------------------------------------------------------------------------------------
# The codec server, over real HTTP on loopback
# --------------------------------------------------------------------------------------
@pytest.fixture
def codec() -> EncryptionCodec:
    return codec_of(key_entry("k1"))


def serve(codec: EncryptionCodec, token: str | None = None) -> CodecHTTPServer:
    return start_in_thread(
        codec,
        CodecServerConfig(
            host="127.0.0.1", port=0, token=token, allowed_origins=frozenset({UI_ORIGIN})
        ),
    )


@pytest.fixture
def codec_server(codec: EncryptionCodec) -> Iterator[CodecHTTPServer]:
    server = serve(codec)
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def guarded_server(codec: EncryptionCodec) -> Iterator[CodecHTTPServer]:
    server = serve(codec, token="s3cret")
    yield server
    server.shutdown()
    server.server_close()


def as_json(payloads: list[Payload]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(json_format.MessageToJson(Payloads(payloads=payloads)))
    return body


def from_json(body: dict[str, Any]) -> list[Payload]:
    return list(json_format.ParseDict(body, Payloads()).payloads)


async def post(
    server: CodecHTTPServer, path: str, body: Any, headers: dict[str, str] | None = None
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        return await http.post(path, json=body, headers=headers or {})


async def test_codec_server_encodes_and_decodes_as_the_ui_sends_it(
    codec_server: CodecHTTPServer, codec: EncryptionCodec
) -> None:
    plain = json_payloads({"name": "王小明", "phone": "+8613800138000"})
    ui = {"Origin": UI_ORIGIN, "X-Namespace": "default"}
    encoded = await post(codec_server, "/encode", as_json(plain), ui)
    assert encoded.status_code == 200, encoded.text
    assert encoded.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
    [sealed] = from_json(encoded.json())
    assert sealed.metadata["encoding"] == ENCRYPTED_ENCODING
    assert "+8613800138000" not in encoded.text
    # What the worker wrote (the codec in-process) decodes over HTTP, and vice versa.
    assert await codec.decode([sealed]) == plain
    worker_written = await codec.encode(plain)
    decoded = await post(codec_server, "/decode", as_json(worker_written), ui)
    assert decoded.status_code == 200, decoded.text
    assert from_json(decoded.json()) == plain
    # Plain payloads (a signal over the HTTP API) come back as they are.
    passthrough = await post(codec_server, "/decode", as_json(plain))
    assert from_json(passthrough.json()) == plain


async def test_codec_server_answers_the_ui_preflight_only_for_its_origin(
    guarded_server: CodecHTTPServer,
) -> None:
    async with httpx.AsyncClient(base_url=guarded_server.url, timeout=10) as http:
        # Preflights carry no credentials: answered without the token.
        preflight = await http.options(
            "/decode",
            headers={
                "Origin": UI_ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-namespace,authorization",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
        assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
        allowed = preflight.headers["Access-Control-Allow-Headers"].lower()
        assert {"content-type", "x-namespace", "authorization"} <= {
            name.strip() for name in allowed.split(",")
        }
        assert preflight.headers["Access-Control-Allow-Credentials"] == "true"

        foreign = await http.options(
            "/decode",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert foreign.status_code == 403
        assert "Access-Control-Allow-Origin" not in foreign.headers

    # A page of another origin (or one that rebinds its name to this machine) is refused
    # even with the token.
    refused = await post(
        guarded_server,
        "/decode",
        {"payloads": []},
        {"Origin": "https://evil.example", "Authorization": "Bearer s3cret"},
    )
    assert refused.status_code == 403


async def test_codec_server_with_a_token_refuses_requests_without_it(
    guarded_server: CodecHTTPServer, codec: EncryptionCodec
) -> None:
    sealed = as_json(await codec.encode(json_payloads({"phone": "+8613800138000"})))
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
        answer = await post(guarded_server, "/decode", sealed, {"Origin": UI_ORIGIN, **headers})
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        # The UI can read why (CORS headers on the refusal too); nothing is decoded.
        assert answer.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
        assert "+8613800138000" not in answer.text
    answer = await post(
        guarded_server, "/decode", sealed, {"Origin": UI_ORIGIN, "Authorization": "Bearer s3cret"}
    )
    assert answer.status_code == 200
    assert json.loads(from_json(answer.json())[0].data) == {"phone": "+8613800138000"}


async def test_codec_server_rejects_what_is_not_a_payloads_request(
    codec_server: CodecHTTPServer, codec: EncryptionCodec
) -> None:
    async with httpx.AsyncClient(base_url=codec_server.url, timeout=10) as http:
        not_json = await http.post(
            "/decode", content=b"payloads", headers={"Content-Type": "text/plain"}
        )
        assert not_json.status_code == 415
        garbage = await http.post(
            "/decode", content=b"{", headers={"Content-Type": "application/json"}
        )
        assert garbage.status_code == 400
        assert garbage.json()["error"].startswith("body:")
        elsewhere = await http.post("/other", json={"payloads": []})
        assert elsewhere.status_code == 404
    # A payload sealed under a key this server lacks is refused, naming the key.
    stranger = await codec_of(key_entry("k9")).encode(json_payloads(1))
    answer = await post(codec_server, "/decode", as_json(stranger))
    assert answer.status_code == 400
    assert "'k9'" in answer.json()["error"]


async def test_starter_codec_server_serves_until_stopped(codec: EncryptionCodec) -> None:
    entry = key_entry("run1")
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(PROJECT_DIR / "starter.py"),
        "codec-server",
        cwd=PROJECT_DIR,
        env={
            **os.environ,
            ENCRYPTION_KEYS_ENV: entry,
            "CODEC_SERVER_PORT": str(port),
            "CODEC_SERVER_TOKEN": "tok",
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        banner = (await asyncio.wait_for(process.stdout.readline(), timeout=30)).decode()
        assert f"codec server on http://127.0.0.1:{port}" in banner
        assert "key run1 encrypts" in banner and "bearer token required" in banner
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            body = as_json(json_payloads({"email": "wxm@example.cn"}))
            assert (await http.post("/encode", json=body)).status_code == 401
            sealed = await http.post("/encode", json=body, headers={"Authorization": "Bearer tok"})
            assert sealed.status_code == 200
        # The server used the keys of the variable: a codec with the same key reads it.
        assert await codec_of(entry).decode(from_json(sealed.json())) == json_payloads(
            {"email": "wxm@example.cn"}
        )
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), timeout=30)


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
    for _ in range(150):
        status: dict[str, Any] = await handle.query(CollectionCase.status)
        if status["contacts"]:
            return status
        await asyncio.sleep(0.2)
    raise AssertionError(f"no contact in 30 s: {status}")


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
            if "search_attributes" in path or path.endswith(LOCAL_ACTIVITY_BOOKKEEPING):
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
        for _ in range(100):
            status = await handle.query(CollectionCase.status)
            if len(status["payments"]) == 2:
                break
            await asyncio.sleep(0.2)
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


def test_a_bad_scope_is_an_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENCRYPTION_KEYS_ENV, key_entry("k1"))
    monkeypatch.setenv(ENCRYPTION_SCOPE_ENV, "some")
    with pytest.raises(EncryptionConfigError, match=f"^{ENCRYPTION_SCOPE_ENV}: must be"):
        encryption.converter_from_env()


async def test_create_worker_keeps_the_client_when_encryption_is_off(
    dev_server: DevServer, case_world: CaseWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENCRYPTION_KEYS_ENV, raising=False)
    assert make_worker(dev_server.env.client, case_world).client is dev_server.env.client


async def test_create_worker_refuses_a_client_with_another_codec(
    dev_server: DevServer, case_world: CaseWorld, encrypted: Client
) -> None:
    config = dev_server.env.client.config()
    config["data_converter"] = DataConverter(payload_codec=MarkingCodec())
    with pytest.raises(EncryptionConfigError, match=rf"{ENCRYPTION_KEYS_ENV} is set.*MarkingCodec"):
        make_worker(Client(**config), case_world)
    # A client that already encrypts is used as it is.
    assert make_worker(encrypted, case_world).client is encrypted


def test_new_key_entries_are_valid_and_distinct() -> None:
    first, second = key_entry("a"), key_entry("a")
    assert first != second
    [key] = encryption.parse_keys(first)
    assert key.key_id == "a" and len(key.key) == 32
