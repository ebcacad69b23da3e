"""The desk as `starter.py web` builds it (`web.mounts.desk_app`), with the inbound webhooks and
the codec server mounted on it: served on real loopback under the webhooks' connection limits,
answering as their own servers do, past the desk's session and CSRF layers."""

from __future__ import annotations

import base64
import json
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from google.protobuf import json_format
from sqlmodel import select
from temporalio.api.common.v1 import Payload, Payloads

from activities.providers.twilio import request_signature
from activities.store import Store
from cli.console import UsageError
from cli.web_server import server_config
from migrations.tables import BorrowerChannelRow, BorrowerRow, utc_iso
from runtime.encryption import ENCRYPTED_ENCODING
from runtime.serving import Served, serve_in_thread
from tests.helpers.cli import refuse_connect
from tests.helpers.codecs import codec_of, json_payloads, key_entry
from web.mounts import DeskApp, desk_app, webhook_settings
from web.settings import WebSettings

TWILIO_TOKEN = "twilio-auth-token"
SENDGRID_TOKEN = "sendgrid-hook-token"
PUBLIC_URL = "https://collect.example.com"
PHONE = "+8613800138000"
CODEC_TOKEN = "s3cret"
UI_ORIGINS = ("http://localhost:8233", "http://127.0.0.1:8233")
KEY = key_entry("k1")
ENV = {
    "WEBHOOKS_PUBLIC_URL": PUBLIC_URL,
    "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
    "SENDGRID_WEBHOOK_TOKEN": SENDGRID_TOKEN,
    # Short, so that the test of the connection limits need not wait long.
    "WEBHOOKS_IDLE_TIMEOUT_SECONDS": "1",
    "COLLECTIONS_ENCRYPTION_KEYS": KEY,
    "COLLECTIONS_ENCRYPTION_SCOPE": "all",
    "CODEC_SERVER_CORS_ORIGINS": ",".join(UI_ORIGINS),
    "CODEC_SERVER_TOKEN": CODEC_TOKEN,
}


def build(store: Store, environ: dict[str, str]) -> DeskApp:
    return desk_app(WebSettings(port=0), store, temporal_client=refuse_connect, environ=environ)


@pytest.fixture
def desk(store: Store) -> Iterator[tuple[DeskApp, Served]]:
    built = build(store, ENV)
    served = serve_in_thread(built.app, "127.0.0.1", 0, http=built.http, name="desk")
    yield built, served
    served.stop()


def twilio_post(url: str, path: str, form: dict[str, str], token: str) -> httpx.Response:
    signature = request_signature(token, PUBLIC_URL + path, form.items())
    return httpx.post(
        url + path,
        content=urlencode(form),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
        timeout=10,
    )


def opt_outs(store: Store) -> list[tuple[str, str, str]]:
    with store.session() as session:
        found = session.exec(select(BorrowerChannelRow)).all()
    return sorted((row.borrower_id, row.channel, row.state) for row in found)


def test_a_webhook_through_the_desk_is_verified_and_recorded_without_a_cookie(
    store: Store, desk: tuple[DeskApp, Served]
) -> None:
    _, served = desk
    store.insert_if_absent(BorrowerRow(borrower_id="B-77", phone=PHONE, updated_at=utc_iso()))
    stop = {"MessageSid": "SM1", "From": PHONE, "Body": "STOP"}

    forged = twilio_post(served.url, "/twilio/inbound", stop, "not-the-token")
    assert forged.status_code == 403 and "X-Twilio-Signature" in forged.text
    assert opt_outs(store) == []

    # No CSRF token, no session: the signature is the webhook's only credential.
    answer = twilio_post(served.url, "/twilio/inbound", stop, TWILIO_TOKEN)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "text/xml"
    assert "set-cookie" not in answer.headers
    assert opt_outs(store) == [("B-77", "sms", "opted_out")]

    events = f"{served.url}/sendgrid/events?{urlencode({'token': SENDGRID_TOKEN})}"
    receipt = httpx.post(events, content=json.dumps([]), timeout=10)
    assert (receipt.status_code, receipt.headers.get("set-cookie")) == (200, None)
    guessed = httpx.post(events.replace(SENDGRID_TOKEN, "guess"), content="[]", timeout=10)
    assert guessed.status_code == 403
    # The desk keeps its own health check and pages on the same server.
    assert httpx.get(served.url + "/healthz", timeout=10).text == "ok"
    assert httpx.get(served.url + "/login", timeout=10).status_code == 200


def test_the_desk_server_runs_under_the_webhooks_connection_limits(
    desk: tuple[DeskApp, Served],
) -> None:
    _, served = desk
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as client:
        # Nothing sent: the webhooks' idle limit (1 s here) closes the connection.
        assert client.recv(1024) == b""
    # (uvicorn alone would wait its keep-alive timeout, 5 s.)
    assert time.monotonic() - started < 3


async def test_the_codec_through_the_desk_round_trips_for_the_ui_with_its_token(
    desk: tuple[DeskApp, Served],
) -> None:
    _, served = desk
    plain = json_payloads({"name": "王小明", "phone": PHONE})
    async with httpx.AsyncClient(base_url=served.url + "/codec", timeout=10) as http:
        for origin in UI_ORIGINS:
            preflight = await http.options(
                "/decode",
                headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
            )
            assert preflight.status_code == 204
            assert preflight.headers["Access-Control-Allow-Origin"] == origin
        ui = {"Origin": UI_ORIGINS[0], "Authorization": f"Bearer {CODEC_TOKEN}"}
        encoded = await http.post("/encode", json=payloads_json(plain), headers=ui)
        assert encoded.status_code == 200, encoded.text
        assert "set-cookie" not in encoded.headers
        assert encoded.headers["Access-Control-Allow-Origin"] == UI_ORIGINS[0]
        sealed = encoded.json()
        assert PHONE not in encoded.text
        assert all(p["metadata"]["encoding"] == b64(ENCRYPTED_ENCODING) for p in sealed["payloads"])
        # What the workers' codec wrote, the desk's /codec reads (and the other way round).
        assert await codec_of(KEY).decode(parse_payloads(sealed)) == plain
        decoded = await http.post("/decode", json=sealed, headers=ui)
        assert decoded.status_code == 200 and parse_payloads(decoded.json()) == plain

        no_token = await http.post("/decode", json=sealed, headers={"Origin": UI_ORIGINS[0]})
        assert no_token.status_code == 401 and PHONE not in no_token.text
        foreign = {**ui, "Origin": "https://evil.example"}
        assert (await http.post("/decode", json=sealed, headers=foreign)).status_code == 403


async def test_without_their_settings_the_desk_has_no_webhooks_and_no_codec(
    store: Store,
) -> None:
    built = build(store, {"TWILIO_AUTH_TOKEN": TWILIO_TOKEN})
    assert (built.webhooks, built.codec, built.http) == (None, None, "auto")
    assert [line.split(":")[0] for line in built.mounted()] == [
        "webhooks not mounted",
        "codec server not mounted",
        "checkout webhook not mounted",
    ]
    transport = httpx.ASGITransport(app=built.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://desk") as http:
        for path in ("/twilio/status", "/twilio/inbound", "/sendgrid/events", "/codec/decode"):
            assert (await http.get(path)).status_code == 404, path
        assert (await http.options("/codec/encode")).status_code == 404
        # Without the exemption a POST there meets the desk's CSRF check, not a webhook.
        assert (await http.post("/twilio/status", content=b"x")).status_code == 403
        assert (await http.get("/healthz")).text == "ok"


def test_the_webhooks_mount_only_for_their_own_settings_and_then_must_be_complete() -> None:
    # The worker's Twilio sender reads TWILIO_AUTH_TOKEN too: alone, it mounts nothing.
    assert webhook_settings({"TWILIO_AUTH_TOKEN": TWILIO_TOKEN}) is None
    assert webhook_settings({"WEBHOOKS_INSECURE_DEV": "0"}) is None
    with pytest.raises(UsageError, match="SENDGRID_WEBHOOK_TOKEN"):
        webhook_settings({"WEBHOOKS_PUBLIC_URL": PUBLIC_URL, "TWILIO_AUTH_TOKEN": TWILIO_TOKEN})
    insecure = webhook_settings({"WEBHOOKS_INSECURE_DEV": "1"})
    assert insecure is not None and insecure.insecure_dev


def test_the_desk_says_when_its_webhooks_take_requests_unverified(store: Store) -> None:
    built = build(store, {"WEBHOOKS_INSECURE_DEV": "1", "SENDGRID_WEBHOOK_TOKEN": "t"})
    [hooks, *_] = built.mounted()
    assert "INSECURE: TWILIO_AUTH_TOKEN unset" in hooks
    assert "INSECURE" not in build(store, ENV).mounted()[0]


def test_the_access_log_leaves_out_the_webhooks_and_the_codec(store: Store) -> None:
    built = build(store, ENV)
    server_config(WebSettings(port=0), built)
    access = logging.getLogger("uvicorn.access")

    def logged(path: str) -> bool:
        record = access.makeRecord(
            access.name, logging.INFO, __file__, 0, '%s - "%s %s HTTP/%s" %d',
            ("127.0.0.1:5", "POST", path, "1.1", 200), None,
        )  # fmt: skip
        return access.filter(record)

    assert not logged(f"/sendgrid/events?token={SENDGRID_TOKEN}")
    assert not logged("/twilio/inbound") and not logged("/codec/decode")
    assert logged("/login")


def payloads_json(payloads: list[Payload]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(json_format.MessageToJson(Payloads(payloads=payloads)))
    return body


def parse_payloads(body: dict[str, Any]) -> list[Payload]:
    return list(json_format.ParseDict(body, Payloads()).payloads)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
