"""The codec server over HTTP, as the Temporal UI calls it, in-process and as the starter
runs it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from runtime.encryption import (
    ENCRYPTED_ENCODING,
    ENCRYPTION_KEYS_ENV,
    EncryptionCodec,
)
from runtime.serving import Served
from tests.helpers.codecs import codec_of, json_payloads, key_entry
from tests.helpers.paths import PROJECT_DIR
from tests.helpers.temporal import free_port
from web.codec import CodecServerConfig, start_in_thread


async def test_codec_server_encodes_and_decodes_as_the_ui_sends_it(
    codec_server: Served, codec: EncryptionCodec
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
    guarded_server: Served,
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
    guarded_server: Served, codec: EncryptionCodec
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
    codec_server: Served, codec: EncryptionCodec
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


@pytest.fixture
def codec_server(codec: EncryptionCodec) -> Iterator[Served]:
    server = serve(codec)
    yield server
    server.stop()


@pytest.fixture
def guarded_server(codec: EncryptionCodec) -> Iterator[Served]:
    server = serve(codec, token="s3cret")
    yield server
    server.stop()


def as_json(payloads: list[Payload]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(json_format.MessageToJson(Payloads(payloads=payloads)))
    return body


def from_json(body: dict[str, Any]) -> list[Payload]:
    return list(json_format.ParseDict(body, Payloads()).payloads)


async def post(
    server: Served, path: str, body: Any, headers: dict[str, str] | None = None
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        return await http.post(path, json=body, headers=headers or {})


def serve(codec: EncryptionCodec, token: str | None = None) -> Served:
    return start_in_thread(
        codec,
        CodecServerConfig(
            host="127.0.0.1", port=0, token=token, allowed_origins=frozenset({UI_ORIGIN})
        ),
    )


UI_ORIGIN = "http://localhost:8233"
