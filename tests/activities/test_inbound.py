"""The inbound webhooks (`starter.py webhooks`) as a real HTTP server on loopback, posting what
Twilio and SendGrid post, on real SQLite and PostgreSQL; and the operator's `opt-out` command.
"""

from __future__ import annotations

import json
import logging
import os
import select as select_module
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlmodel import SQLModel, select

from activities.borrower_channels import OPERATOR, blocking_rule, mark_undeliverable, opt_out
from activities.case_activities import CollectionActivities
from activities.notify import WebhookNotifier
from activities.providers.twilio import request_signature
from activities.store import Store
from cli import main as starter
from cli.console import UsageError
from contracts import ContactRequest, PrepareRequest
from domain.case import Borrower, CaseInput
from migrations.tables import (
    BorrowerChannelRow,
    BorrowerRow,
    ContactAttemptRow,
    InboundMessageRow,
    utc_iso,
)
from tests.helpers.databases import POSTGRES_ENV
from tests.helpers.paths import PROJECT_DIR
from web.inbound import start_in_thread
from web.inbound_requests import Inbound, InboundSettings

TOKEN = "twilio-auth-token"
SENDGRID_TOKEN = "sendgrid-hook-token"
# What Twilio calls (through a proxy, in production), and signs.
PUBLIC_URL = "https://collect.example.com/hooks"
PHONE = "+8613800138000"
NEW_PHONE = "+8613911112222"
EMAIL = "w@example.cn"


# -- the world: cases, attempts and the server ----------------------------------------------


def borrower(borrower_id: str = "B-77", phone: str = PHONE, email: str = EMAIL) -> Borrower:
    return Borrower(borrower_id=borrower_id, name="王小明", phone=phone, email=email)


@pytest.fixture
def activities(store: Store, tmp_path: Path) -> Iterator[CollectionActivities]:
    notifier = WebhookNotifier({})
    yield CollectionActivities(store, tmp_path / "evidence", notifier)
    notifier.close()


def open_case(
    activities: CollectionActivities,
    case_id: str,
    loan_id: str,
    borrower_id: str = "B-77",
    *,
    phone: str = PHONE,
    email: str = EMAIL,
    opened_at: str = "2026-11-05T01:00:00+00:00",
) -> None:
    """A case opened at `opened_at`: the latest opened names the borrower's current details."""
    activities.prepare_case(
        PrepareRequest(
            case_id=case_id,
            workflow_id=f"collection-{loan_id}",
            case=CaseInput(
                loan_id=loan_id,
                borrower=borrower(borrower_id, phone, email),
                currency="CNY",
                overdue_amount_minor=500_000,
                due_date="2026-11-01",
            ),
            opened_at=opened_at,
        )
    )


def contact(
    attempt_id: str,
    case_id: str,
    loan_id: str,
    channel: str = "sms",
    scheduled_at: str = "2026-11-04T02:00:00+00:00",
) -> ContactRequest:
    return ContactRequest(
        case_id=case_id,
        attempt_id=attempt_id,
        loan_id=loan_id,
        channel=channel,
        template="reminder_friendly",
        days_past_due=3,
        currency="CNY",
        outstanding_minor=500_000,
        scheduled_at=scheduled_at,
    )


def sent_attempt(
    store: Store,
    attempt_id: str,
    provider_ref: str,
    channel: str = "sms",
    case_id: str = "c-1",
    recipient: str | None = None,
) -> None:
    """An attempt as a provider left it: sent, to the borrower's number or mailbox, with the
    vendor's message id."""
    store.insert_if_absent(
        ContactAttemptRow(
            attempt_id=attempt_id,
            case_id=case_id,
            loan_id="L-1",
            channel=channel,
            recipient=recipient or (PHONE if channel == "sms" else EMAIL),
            template="reminder_friendly",
            status="sent",
            result="sent",
            provider_ref=provider_ref,
            created_at=utc_iso(),
            sent_at=utc_iso(),
        )
    )


def add_borrower(store: Store, borrower_id: str, phone: str = PHONE) -> None:
    store.insert_if_absent(BorrowerRow(borrower_id=borrower_id, phone=phone, updated_at=utc_iso()))


def rows(store: Store, model: type[SQLModel]) -> list[Any]:
    with store.session() as session:
        return list(session.exec(select(model)).all())


def attempt(store: Store, attempt_id: str) -> ContactAttemptRow:
    row = store.get(ContactAttemptRow, attempt_id)
    assert row is not None
    return row


def channel_rows(store: Store) -> list[tuple[str, str, str, str]]:
    return sorted(
        (r.borrower_id, r.channel, r.state, r.source) for r in rows(store, BorrowerChannelRow)
    )


def marks(store: Store) -> list[tuple[str, str, str, str]]:
    """Each mark with the address it belongs to."""
    return sorted(
        (r.borrower_id, r.channel, r.recipient, r.state) for r in rows(store, BorrowerChannelRow)
    )


class Webhooks:
    """The running server and a client that posts as Twilio (signed for the public URL, as
    Twilio signs what it requested) and SendGrid do."""

    def __init__(self, url: str, client: httpx.Client, public_url: str | None) -> None:
        self.url = url
        self.client = client
        self.public_url = public_url or url
        self.port = int(url.rsplit(":", 1)[1])

    def twilio(
        self, path: str, form: dict[str, str], *, token: str = TOKEN, signed: bool = True
    ) -> httpx.Response:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signed:
            headers["X-Twilio-Signature"] = request_signature(
                token, self.public_url + path, form.items()
            )
        return self.client.post(self.url + path, content=urlencode(form), headers=headers)

    def reply(self, body: str, sid: str, phone: str = PHONE) -> httpx.Response:
        """A borrower's text, as Twilio posts it."""
        return self.twilio("/twilio/inbound", {"MessageSid": sid, "From": phone, "Body": body})

    def sendgrid(self, events: Any, *, token: str = SENDGRID_TOKEN) -> httpx.Response:
        return self.client.post(
            f"{self.url}/sendgrid/events?{urlencode({'token': token})}",
            content=json.dumps(events),
            headers={"Content-Type": "application/json"},
        )


def run_server(store: Store, settings: InboundSettings) -> Iterator[Webhooks]:
    served = start_in_thread(store, settings)
    with httpx.Client(timeout=10) as client:
        yield Webhooks(served.url, client, settings.public_url)
    served.stop()


SETTINGS = InboundSettings(
    host="127.0.0.1",
    port=0,
    twilio_auth_token=TOKEN,
    sendgrid_token=SENDGRID_TOKEN,
    public_url=PUBLIC_URL,
)


@pytest.fixture
def webhooks(store: Store) -> Iterator[Webhooks]:
    yield from run_server(store, SETTINGS)


# -- delivery receipts ----------------------------------------------------------------------


def test_a_twilio_status_callback_records_the_delivery_and_never_goes_back(
    store: Store, webhooks: Webhooks
) -> None:
    sent_attempt(store, "sms-1", "SM100")

    answer = webhooks.twilio(
        "/twilio/status", {"MessageSid": "SM100", "MessageStatus": "delivered"}
    )
    assert answer.status_code == 204
    delivered = attempt(store, "sms-1")
    assert delivered.delivery_status == "delivered"
    assert delivered.delivery_updated_at is not None

    # Twilio's callbacks arrive out of order: a late "sent" does not undo "delivered".
    late = webhooks.twilio("/twilio/status", {"MessageSid": "SM100", "MessageStatus": "sent"})
    assert late.status_code == 204
    after = attempt(store, "sms-1")
    assert (after.delivery_status, after.delivery_updated_at) == (
        "delivered",
        delivered.delivery_updated_at,
    )
    assert after.status == "sent"  # the outbox's own status is left alone
    assert channel_rows(store) == []


def test_a_permanent_sms_failure_marks_the_channel_undeliverable(
    store: Store, webhooks: Webhooks, activities: CollectionActivities
) -> None:
    open_case(activities, "c-1", "L-1")
    sent_attempt(store, "sms-1", "SM200", case_id="c-1")
    form = {"MessageSid": "SM200", "MessageStatus": "undelivered", "ErrorCode": "30006"}

    assert webhooks.twilio("/twilio/status", form).status_code == 204
    assert webhooks.twilio("/twilio/status", form).status_code == 204  # Twilio retries

    assert attempt(store, "sms-1").delivery_status == "undelivered"
    assert channel_rows(store) == [("B-77", "sms", "undeliverable", "provider_rejection")]


def test_a_passing_sms_failure_leaves_the_channel_open(
    store: Store, webhooks: Webhooks, activities: CollectionActivities
) -> None:
    open_case(activities, "c-1", "L-1")
    sent_attempt(store, "sms-1", "SM300", case_id="c-1")
    form = {"MessageSid": "SM300", "MessageStatus": "undelivered", "ErrorCode": "30003"}
    assert webhooks.twilio("/twilio/status", form).status_code == 204
    assert attempt(store, "sms-1").delivery_status == "undelivered"
    assert channel_rows(store) == []


def test_sendgrid_events_update_delivery_and_a_bounce_marks_email_undeliverable(
    store: Store, webhooks: Webhooks, activities: CollectionActivities
) -> None:
    open_case(activities, "c-1", "L-1")
    sent_attempt(store, "email-1", "XBg2anf2TqCy6WXKQFhieQ", "email", case_id="c-1")
    sent_attempt(store, "email-2", "Q2mid", "email", case_id="c-1")
    events = [
        {
            "email": "w@example.cn",
            "event": "delivered",
            # SendGrid's id: the X-Message-Id we kept, then its own suffix.
            "sg_message_id": "XBg2anf2TqCy6WXKQFhieQ.filter0905p1mdw1-4434-59E0C6FF-3.0",
            "idempotency_key": "email-1",
        },
        {"event": "open", "sg_message_id": "XBg2anf2TqCy6WXKQFhieQ.filter0905p1"},
        {
            "event": "bounce",
            "type": "bounce",
            "reason": "550 5.1.1 unknown user",
            "sg_message_id": "Q2mid.filter0001",
        },
    ]

    answer = webhooks.sendgrid(events)

    assert answer.status_code == 200
    assert attempt(store, "email-1").delivery_status == "delivered"
    assert attempt(store, "email-2").delivery_status == "bounce"
    assert channel_rows(store) == [("B-77", "email", "undeliverable", "provider_rejection")]


def test_a_sendgrid_event_is_found_by_its_idempotency_key_without_a_message_id(
    store: Store, webhooks: Webhooks
) -> None:
    # The send's answer was lost (no X-Message-Id kept); the custom arg still names it.
    sent_attempt(store, "email-1", "", "email")
    answer = webhooks.sendgrid(
        [{"event": "deferred", "sg_message_id": "unknown.filter", "idempotency_key": "email-1"}]
    )
    assert answer.status_code == 200
    assert attempt(store, "email-1").delivery_status == "deferred"


def test_a_bad_sendgrid_batch_is_refused_naming_the_event_and_changes_nothing(
    store: Store, webhooks: Webhooks
) -> None:
    sent_attempt(store, "email-1", "M1", "email")
    answer = webhooks.sendgrid(
        [{"event": "delivered", "sg_message_id": "M1.f"}, {"sg_message_id": "M1.f"}]
    )
    assert answer.status_code == 400
    assert "[1].event" in answer.text
    assert attempt(store, "email-1").delivery_status is None


def test_sendgrid_events_without_the_token_are_refused(store: Store, webhooks: Webhooks) -> None:
    sent_attempt(store, "email-1", "M1", "email")
    answer = webhooks.sendgrid([{"event": "delivered", "sg_message_id": "M1"}], token="guess")
    assert answer.status_code == 403
    assert attempt(store, "email-1").delivery_status is None


def test_a_receipt_for_an_unknown_message_is_acknowledged(webhooks: Webhooks) -> None:
    form = {"MessageSid": "SM-not-ours", "MessageStatus": "delivered"}
    assert webhooks.twilio("/twilio/status", form).status_code == 204


def test_a_status_callback_without_its_message_sid_is_refused_naming_it(
    webhooks: Webhooks,
) -> None:
    answer = webhooks.twilio("/twilio/status", {"MessageStatus": "delivered"})
    assert answer.status_code == 400
    assert "MessageSid" in answer.text


# -- signatures -----------------------------------------------------------------------------


def test_a_bad_twilio_signature_is_refused_and_changes_nothing(
    store: Store, webhooks: Webhooks
) -> None:
    sent_attempt(store, "sms-1", "SM100")
    add_borrower(store, "B-77")
    status = {"MessageSid": "SM100", "MessageStatus": "delivered"}
    forged = webhooks.twilio("/twilio/status", status, token="not-the-token")
    unsigned = webhooks.twilio(
        "/twilio/inbound", {"MessageSid": "SM1", "From": PHONE, "Body": "STOP"}, signed=False
    )

    assert (forged.status_code, unsigned.status_code) == (403, 403)
    assert "X-Twilio-Signature" in forged.text
    assert attempt(store, "sms-1").delivery_status is None
    assert channel_rows(store) == []


def test_the_signature_is_checked_against_the_public_url_never_the_host_header(
    store: Store, webhooks: Webhooks
) -> None:
    sent_attempt(store, "sms-1", "SM100")
    form = {"MessageSid": "SM100", "MessageStatus": "delivered"}

    def post(signed_for: str, host: str | None = None) -> int:
        signature = request_signature(TOKEN, signed_for + "/twilio/status", form.items())
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
            **({"Host": host} if host else {}),
        }
        answer = webhooks.client.post(
            webhooks.url + "/twilio/status", content=urlencode(form), headers=headers
        )
        return answer.status_code

    # Signed for the address the request reached, or for one its Host header names: refused.
    assert post(webhooks.url) == 403
    assert post("http://attacker.example", host="attacker.example") == 403
    assert attempt(store, "sms-1").delivery_status is None
    assert post(PUBLIC_URL) == 204
    assert attempt(store, "sms-1").delivery_status == "delivered"


# -- STOP and START replies -----------------------------------------------------------------


def test_a_stop_reply_opts_the_borrower_out_on_all_their_loans(
    store: Store, webhooks: Webhooks, activities: CollectionActivities
) -> None:
    open_case(activities, "c-1", "L-1")
    open_case(activities, "c-2", "L-2")
    add_borrower(store, "B-77")
    add_borrower(store, "B-88", phone="+8613900139000")

    answer = webhooks.twilio(
        "/twilio/inbound", {"MessageSid": "SM1", "From": PHONE, "Body": "Stop", "To": "+1500"}
    )

    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/xml")
    assert "<Response>" in answer.text
    assert channel_rows(store) == [("B-77", "sms", "opted_out", "inbound_reply")]
    for attempt_id, case_id, loan_id in (("a-1", "c-1", "L-1"), ("a-2", "c-2", "L-2")):
        result = activities.send_notice(contact(attempt_id, case_id, loan_id))
        assert (result.result, result.rule) == ("blocked", "opt_out")
    assert activities.send_notice(contact("e-1", "c-1", "L-1", "email")).result == "sent"

    start = webhooks.reply("START", "SM2")
    assert start.status_code == 200
    assert channel_rows(store) == []
    assert activities.send_notice(contact("a-3", "c-1", "L-1")).result == "sent"


def test_a_chinese_opt_out_reply_covers_every_borrower_with_that_number(
    store: Store, webhooks: Webhooks
) -> None:
    add_borrower(store, "B-77")
    add_borrower(store, "B-78")
    add_borrower(store, "B-99", phone="+8613900139000")
    assert webhooks.reply(" 退订 ", "SM1").is_success
    assert channel_rows(store) == [
        ("B-77", "sms", "opted_out", "inbound_reply"),
        ("B-78", "sms", "opted_out", "inbound_reply"),
    ]


def test_other_replies_change_nothing(store: Store, webhooks: Webhooks) -> None:
    add_borrower(store, "B-77")
    answer = webhooks.reply("please don't stop", "SM1")
    assert answer.status_code == 200
    assert channel_rows(store) == []


def test_start_does_not_lift_an_undeliverable_mark(store: Store, webhooks: Webhooks) -> None:
    add_borrower(store, "B-77")
    mark_undeliverable(store, "B-77", "sms", source="provider_rejection", reason="21211")
    assert webhooks.reply("START", "SM1").is_success
    assert channel_rows(store) == [("B-77", "sms", "undeliverable", "provider_rejection")]


# -- the operator's opt-out -----------------------------------------------------------------


def database_url(store: Store) -> str:
    if store.schema is None:
        return store.engine.url.render_as_string(hide_password=False)
    return f"{os.environ[POSTGRES_ENV]}?options=-csearch_path%3D{store.schema}"


async def test_the_opt_out_command_blocks_the_channel_and_undo_lifts_it(
    store: Store,
    activities: CollectionActivities,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url(store))
    open_case(activities, "c-1", "L-1")
    command = ["opt-out", "--borrower-id", "B-77", "--channel", "sms"]

    assert await starter.run([*command, "--reason", "letter of 5 Nov"]) == 0
    assert await starter.run(command) == 0
    output = capsys.readouterr().out
    assert "B-77 sms: opted out" in output
    assert "already opted out" in output
    [row] = rows(store, BorrowerChannelRow)
    assert (row.state, row.source, row.reason) == ("opted_out", OPERATOR, "letter of 5 Nov")
    assert activities.send_notice(contact("a-1", "c-1", "L-1")).result == "blocked"

    assert await starter.run([*command, "--undo"]) == 0
    assert "opt-out lifted" in capsys.readouterr().out
    assert channel_rows(store) == []
    assert activities.send_notice(contact("a-2", "c-1", "L-1")).result == "sent"


async def test_the_opt_out_command_refuses_an_unknown_borrower(
    store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url(store))
    code = await starter.run(["opt-out", "--borrower-id", "B-404", "--channel", "email"])
    assert code == 2
    assert "--borrower-id" in capsys.readouterr().err
    assert channel_rows(store) == []


async def test_the_opt_out_undo_leaves_an_undeliverable_channel(
    store: Store,
    activities: CollectionActivities,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url(store))
    open_case(activities, "c-1", "L-1")
    mark_undeliverable(store, "B-77", "sms", source="provider_rejection", reason="21211")
    opt_out(store, "B-77", "email", source="inbound_reply")
    command = ["opt-out", "--borrower-id", "B-77", "--undo"]
    assert await starter.run([*command, "--channel", "sms"]) == 0
    assert "undeliverable (provider_rejection), not opted out" in capsys.readouterr().out
    assert await starter.run([*command, "--channel", "email"]) == 0
    assert channel_rows(store) == [("B-77", "sms", "undeliverable", "provider_rejection")]


# -- the command ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_webhooks_command_serves_on_the_configured_port(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "WEBHOOKS_PORT": str(port),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cases.db'}",
        "TWILIO_AUTH_TOKEN": TOKEN,
        "SENDGRID_WEBHOOK_TOKEN": SENDGRID_TOKEN,
        "WEBHOOKS_PUBLIC_URL": PUBLIC_URL,
    }
    process = subprocess.Popen(
        [sys.executable, "starter.py", "webhooks"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        answer = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert answer is not None and answer.status_code == 200, process.poll()
        unsigned = httpx.post(
            f"http://127.0.0.1:{port}/twilio/inbound", data={"From": PHONE, "Body": "STOP"}
        )
        assert unsigned.status_code == 403
    finally:
        process.terminate()
        process.wait(timeout=10)


def start_webhooks(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    """`starter.py webhooks` as a process on a free port, once it answers /healthz."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "starter.py", "webhooks"],
        cwd=PROJECT_DIR,
        env={
            **without_webhook_settings(),
            "WEBHOOKS_PORT": str(port),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'cases.db'}",
            **env,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process, port
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    output = process.communicate()[0].decode(errors="replace")
    raise AssertionError(f"webhooks did not start: {output}")


def without_webhook_settings() -> dict[str, str]:
    names = ("TWILIO_AUTH_TOKEN", "SENDGRID_WEBHOOK_TOKEN", "WEBHOOKS_")
    return {k: v for k, v in os.environ.items() if not k.startswith(names)}


# -- no secret, no start --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        (replace(SETTINGS, twilio_auth_token=None), "TWILIO_AUTH_TOKEN"),
        (replace(SETTINGS, sendgrid_token=None), "SENDGRID_WEBHOOK_TOKEN"),
        (replace(SETTINGS, public_url=None), "WEBHOOKS_PUBLIC_URL"),
        (replace(SETTINGS, public_url="collect.example.com/hooks"), "WEBHOOKS_PUBLIC_URL"),
        # The development switch excuses a missing secret, never a signature check without
        # the URL it covers.
        (replace(SETTINGS, public_url=None, insecure_dev=True), "WEBHOOKS_PUBLIC_URL"),
        (replace(SETTINGS, idle_timeout_seconds=0), "WEBHOOKS_IDLE_TIMEOUT_SECONDS"),
        (replace(SETTINGS, max_connections=0), "WEBHOOKS_MAX_CONNECTIONS"),
    ],
)
def test_the_server_refuses_settings_that_would_trust_what_it_cannot_verify(
    store: Store, settings: InboundSettings, named: str
) -> None:
    with pytest.raises(UsageError, match=named):
        Inbound(store, settings)


def test_the_webhooks_command_refuses_to_start_without_its_secrets(tmp_path: Path) -> None:
    finished = subprocess.run(
        [sys.executable, "starter.py", "webhooks", "--port", str(free_port())],
        cwd=PROJECT_DIR,
        env={**without_webhook_settings(), "DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"},
        capture_output=True,
        text=True,
        timeout=60,  # a server that starts anyway never exits: this fails the test
    )
    assert finished.returncode == 2, finished.stderr
    assert "TWILIO_AUTH_TOKEN and SENDGRID_WEBHOOK_TOKEN: required" in finished.stderr
    assert "WEBHOOKS_INSECURE_DEV=1" in finished.stderr


def test_the_insecure_development_switch_warns_at_start_and_on_every_unverified_request(
    tmp_path: Path,
) -> None:
    process, port = start_webhooks(tmp_path, {"WEBHOOKS_INSECURE_DEV": "1"})
    try:
        form = {"MessageSid": "SM1", "From": PHONE, "Body": "hello"}
        answers = [
            httpx.post(f"http://127.0.0.1:{port}/twilio/inbound", data=form).status_code,
            httpx.post(f"http://127.0.0.1:{port}/sendgrid/events", json=[]).status_code,
        ]
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0].decode()
    assert answers == [200, 200]
    start_warnings = [line for line in output.splitlines() if "INSECURE: " in line]
    assert len(start_warnings) == 2, output
    assert "TWILIO_AUTH_TOKEN" in start_warnings[0]
    assert "SENDGRID_WEBHOOK_TOKEN" in start_warnings[1]
    assert "UNVERIFIED Twilio request accepted on /twilio/inbound" in output
    assert "UNVERIFIED SendGrid request accepted on /sendgrid/events" in output
    assert PHONE not in output


# -- each message once, and words in order ----------------------------------------------------


def test_a_replayed_start_after_a_stop_changes_nothing(
    store: Store, webhooks: Webhooks, activities: CollectionActivities
) -> None:
    open_case(activities, "c-1", "L-1")
    assert webhooks.reply("START", "SM-start").status_code == 200
    assert webhooks.reply("STOP", "SM-stop").status_code == 200

    replayed = webhooks.reply("START", "SM-start")  # captured, signed, posted again

    assert replayed.status_code == 200
    assert channel_rows(store) == [("B-77", "sms", "opted_out", "inbound_reply")]
    assert activities.send_notice(contact("a-1", "c-1", "L-1")).rule == "opt_out"
    # The borrower's own new START lifts it.
    assert webhooks.reply("START", "SM-start-2").status_code == 200
    assert channel_rows(store) == []
    keys = sorted(row.message_key for row in rows(store, InboundMessageRow))
    assert keys == [
        "twilio-inbound:SM-start",
        "twilio-inbound:SM-start-2",
        "twilio-inbound:SM-stop",
    ]


def test_a_reply_without_its_message_sid_is_refused_and_changes_nothing(
    store: Store, webhooks: Webhooks
) -> None:
    add_borrower(store, "B-77")
    answer = webhooks.twilio("/twilio/inbound", {"From": PHONE, "Body": "STOP"})
    too_long = webhooks.reply("STOP", "SM" + "0" * 200)
    assert (answer.status_code, too_long.status_code) == (400, 400)
    assert "MessageSid: is required" in answer.text
    assert "MessageSid: at most 128 characters" in too_long.text
    assert channel_rows(store) == []


def test_a_status_callback_is_applied_once(store: Store, webhooks: Webhooks) -> None:
    sent_attempt(store, "sms-1", "SM100")
    form = {"MessageSid": "SM100", "MessageStatus": "delivered"}
    assert webhooks.twilio("/twilio/status", form).status_code == 204
    assert webhooks.twilio("/twilio/status", form).status_code == 204
    [message] = rows(store, InboundMessageRow)
    assert (message.message_key, message.channel, message.intent) == (
        "twilio-status:SM100:delivered",
        "sms",
        None,
    )
    # A callback for a message not (yet) ours is not remembered: its retry may find it.
    unknown = {"MessageSid": "SM-later", "MessageStatus": "delivered"}
    assert webhooks.twilio("/twilio/status", unknown).status_code == 204
    assert len(rows(store, InboundMessageRow)) == 1


# Some moment in SendGrid's clock (Unix seconds); only the order of the events matters.
SENDGRID_T0 = 1_793_000_000


def sendgrid_event(name: str, event_id: str, seconds: int) -> dict[str, Any]:
    return {
        "event": name,
        "email": EMAIL,
        "sg_message_id": "M1.filter0001",
        "sg_event_id": event_id,
        "timestamp": SENDGRID_T0 + seconds,
    }


def test_sendgrid_unsubscribes_and_resubscribes_count_in_the_order_sendgrid_dates_them(
    store: Store, webhooks: Webhooks, activities: CollectionActivities
) -> None:
    open_case(activities, "c-1", "L-1")
    sent_attempt(store, "email-1", "M1", "email", case_id="c-1")
    unsubscribe = sendgrid_event("group_unsubscribe", "ev-1", 100)
    resubscribe = sendgrid_event("group_resubscribe", "ev-2", 200)

    # SendGrid's retry brings the older unsubscribe after the resubscribe.
    assert webhooks.sendgrid([resubscribe]).status_code == 200
    assert webhooks.sendgrid([unsubscribe]).status_code == 200
    assert channel_rows(store) == []

    assert webhooks.sendgrid([sendgrid_event("unsubscribe", "ev-3", 300)]).status_code == 200
    assert marks(store) == [("B-77", "email", EMAIL, "opted_out")]
    # A replay of the resubscribe (its id, its time) changes nothing ...
    assert webhooks.sendgrid([resubscribe]).status_code == 200
    assert marks(store) == [("B-77", "email", EMAIL, "opted_out")]
    # ... and a resubscribe after the unsubscribe lifts it.
    assert webhooks.sendgrid([sendgrid_event("group_resubscribe", "ev-4", 400)]).is_success
    assert channel_rows(store) == []


def test_a_replayed_sendgrid_event_without_an_id_changes_nothing(
    store: Store, webhooks: Webhooks, activities: CollectionActivities
) -> None:
    open_case(activities, "c-1", "L-1")
    sent_attempt(store, "email-1", "M1", "email", case_id="c-1")
    resubscribe = {"event": "group_resubscribe", "sg_message_id": "M1.f", "timestamp": 5}
    unsubscribe = {"event": "unsubscribe", "sg_message_id": "M1.f", "timestamp": 9}
    assert webhooks.sendgrid([resubscribe, unsubscribe]).status_code == 200
    assert marks(store) == [("B-77", "email", EMAIL, "opted_out")]
    # The same bytes again, replayed in any order: the digest of each is known.
    assert webhooks.sendgrid([resubscribe]).status_code == 200
    assert marks(store) == [("B-77", "email", EMAIL, "opted_out")]


@pytest.mark.parametrize(
    ("event", "named"),
    [
        ({"timestamp": "yesterday"}, "[0].timestamp: must be Unix seconds"),
        ({"timestamp": True}, "[0].timestamp: must be Unix seconds"),
        ({"timestamp": 10**20}, "[0].timestamp: must be Unix seconds"),
        ({"sg_event_id": 7}, "[0].sg_event_id: must be text"),
        ({"sg_event_id": "e" * 129}, "[0].sg_event_id: must be text"),
    ],
)
def test_a_bad_sendgrid_timestamp_or_event_id_is_refused_naming_it(
    store: Store, webhooks: Webhooks, event: dict[str, Any], named: str
) -> None:
    sent_attempt(store, "email-1", "M1", "email")
    answer = webhooks.sendgrid([{"event": "unsubscribe", "sg_message_id": "M1.f", **event}])
    assert answer.status_code == 400
    assert named in answer.text
    assert channel_rows(store) == []


# -- what a caller can hold: bodies, nesting, sockets -------------------------------------------


def test_deeply_nested_json_is_refused_with_400_naming_the_body(
    store: Store, webhooks: Webhooks
) -> None:
    sent_attempt(store, "email-1", "M1", "email")
    deep = "[" * 5000 + "]" * 5000
    answer = webhooks.client.post(
        f"{webhooks.url}/sendgrid/events?token={SENDGRID_TOKEN}", content=deep
    )
    assert answer.status_code == 400
    assert answer.text == "body: JSON nested deeper than 16 levels"
    # Brackets inside strings are text, not nesting.
    bracketed = [{"event": "delivered", "sg_message_id": "M1.f", "reason": "[{" * 100}]
    assert webhooks.sendgrid(bracketed).status_code == 200
    assert attempt(store, "email-1").delivery_status == "delivered"


def test_a_body_too_large_or_with_too_many_fields_is_refused_naming_it(
    webhooks: Webhooks,
) -> None:
    # Refused by the length it announces, before a byte of it is read. The client sends its
    # headers alone: one still uploading megabytes when the server answers and closes can have
    # the answer cut off by the reset of its unread upload (CI saw it, both databases at once).
    client = stalled_post(webhooks.port, length=5 * 1024 * 1024 + 2)
    huge = read_to_end(client)
    client.close()
    assert huge.startswith(b"HTTP/1.1 413"), huge
    assert b"\r\n\r\nbody: at most 5242880 bytes, not 5242882" in huge
    fields = {f"F{number}": "x" for number in range(300)}
    many = webhooks.twilio("/twilio/inbound", {"MessageSid": "SM1", "From": PHONE, **fields})
    assert many.status_code == 400
    assert many.text == "body: at most 200 form fields"


def stalled_post(port: int, length: int = 100) -> socket.socket:
    """A client that sends its headers, promises a body and sends nothing more."""
    client = socket.create_connection(("127.0.0.1", port), timeout=10)
    client.sendall(
        b"POST /twilio/inbound HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        + f"Content-Length: {length}\r\n\r\n".encode()
    )
    return client


def read_to_end(client: socket.socket) -> bytes:
    """What the server sends until it closes the connection (raises on the client's timeout)."""
    received = b""
    while True:
        try:
            chunk = client.recv(4096)
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


def test_a_client_that_stalls_after_its_headers_is_disconnected(store: Store) -> None:
    for webhooks in run_server(store, replace(SETTINGS, idle_timeout_seconds=0.5)):
        client = stalled_post(webhooks.port)
        began = time.monotonic()
        answer = read_to_end(client)
        waited = time.monotonic() - began
        client.close()
        assert answer.startswith(b"HTTP/1.1 408"), answer  # uvicorn answers in HTTP/1.1
        assert answer.endswith(b"body: not received in time")
        assert 0.4 < waited < 5


def test_stalled_clients_cannot_exhaust_the_server(store: Store) -> None:
    settings = replace(SETTINGS, idle_timeout_seconds=3.0, max_connections=8)
    for webhooks in run_server(store, settings):
        threads_before = threading.active_count()
        stalled = [stalled_post(webhooks.port) for _ in range(40)]
        # Beyond the cap, a connection is told at once that the server is busy.
        answered: dict[socket.socket, bytes] = {}
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline and len(answered) < 32:
            waiting = [client for client in stalled if client not in answered]
            ready, _, _ = select_module.select(waiting, [], [], 0.1)
            for client in ready:
                answered[client] = read_to_end(client)
        busy = [answer for answer in answered.values() if answer.startswith(b"HTTP/1.0 503")]
        assert (len(answered), len(busy)) == (32, 32)
        assert busy[0].endswith(b"busy: too many connections\r\n")
        assert threading.active_count() - threads_before <= 8
        # The stalled ones are let go after the idle timeout, and the server answers again.
        for client in stalled:
            if client not in answered:
                assert read_to_end(client).startswith(b"HTTP/1.1 408")
            client.close()
        assert webhooks.client.get(webhooks.url + "/healthz").status_code == 200
        deadline = time.monotonic() + 5
        while threading.active_count() > threads_before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert threading.active_count() <= threads_before


def test_a_client_that_drips_its_request_is_cut_off_at_the_request_deadline(
    store: Store,
) -> None:
    settings = replace(SETTINGS, idle_timeout_seconds=1.0, request_timeout_seconds=1.5)
    for webhooks in run_server(store, settings):
        client = socket.create_connection(("127.0.0.1", webhooks.port), timeout=10)
        client.sendall(b"POST /twilio/inbound HTTP/1.1\r\nX-Padding: ")
        began = time.monotonic()
        cut_off = False
        while not cut_off and time.monotonic() - began < 10:
            # One byte well within the idle timeout, again and again.
            try:
                client.sendall(b"a")
            except OSError:
                cut_off = True
                break
            ready, _, _ = select_module.select([client], [], [], 0.3)
            if ready:
                try:
                    cut_off = client.recv(1) == b""
                except ConnectionResetError:
                    cut_off = True
        waited = time.monotonic() - began
        client.close()
        assert cut_off
        assert 1.2 < waited < 4


# -- a mark belongs to the address it was found for ---------------------------------------------

LATER = "2026-11-20T01:00:00+00:00"
LATEST = "2026-11-25T01:00:00+00:00"
# Days apart, so that the daily caps never decide these contacts.
DAY_1, DAY_2, DAY_3 = (f"2026-11-{day}T02:00:00+00:00" for day in (21, 22, 23))


def test_an_undeliverable_mark_stays_with_its_number_and_a_new_number_starts_clean(
    store: Store,
    webhooks: Webhooks,
    activities: CollectionActivities,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    open_case(activities, "c-1", "L-1")
    sent_attempt(store, "sms-1", "SM200", case_id="c-1")
    form = {"MessageSid": "SM200", "MessageStatus": "undelivered", "ErrorCode": "30006"}
    assert webhooks.twilio("/twilio/status", form).status_code == 204
    assert marks(store) == [("B-77", "sms", PHONE, "undeliverable")]
    assert activities.send_notice(contact("a-1", "c-1", "L-1", scheduled_at=DAY_1)).rule == (
        "undeliverable"
    )

    # A newer loan of the borrower brings another number: it starts clean, for every loan.
    open_case(activities, "c-2", "L-2", phone=NEW_PHONE, opened_at=LATER)
    sent = activities.send_notice(contact("a-2", "c-2", "L-2", scheduled_at=DAY_2))
    assert (sent.result, attempt(store, "a-2").recipient) == ("sent", NEW_PHONE)
    again = activities.send_notice(contact("a-3", "c-1", "L-1", scheduled_at=DAY_3))
    assert (again.result, attempt(store, "a-3").recipient) == ("sent", NEW_PHONE)
    # The old number keeps its mark.
    assert marks(store) == [("B-77", "sms", PHONE, "undeliverable")]
    assert blocking_rule(store, "B-77", "sms", PHONE) == "undeliverable"
    assert PHONE not in caplog.text and NEW_PHONE not in caplog.text


def test_an_opt_out_stays_with_the_number_it_came_from(
    store: Store,
    webhooks: Webhooks,
    activities: CollectionActivities,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    open_case(activities, "c-1", "L-1")
    assert webhooks.reply("STOP", "SM1").status_code == 200
    assert marks(store) == [("B-77", "sms", PHONE, "opted_out")]

    open_case(activities, "c-2", "L-2", phone=NEW_PHONE, opened_at=LATER)
    assert activities.send_notice(contact("a-1", "c-2", "L-2", scheduled_at=DAY_1)).result == (
        "sent"
    )
    # A START from the new number lifts nothing of the old one's.
    assert webhooks.reply("START", "SM2", phone=NEW_PHONE).status_code == 200
    assert marks(store) == [("B-77", "sms", PHONE, "opted_out")]

    # The borrower's details name the old number again (a still newer case): still opted out.
    open_case(activities, "c-3", "L-3", phone=PHONE, opened_at=LATEST)
    blocked = activities.send_notice(contact("a-2", "c-3", "L-3", scheduled_at=DAY_2))
    assert (blocked.result, blocked.rule) == ("blocked", "opt_out")
    assert PHONE not in caplog.text and NEW_PHONE not in caplog.text


def test_a_sendgrid_bounce_marks_the_mailbox_the_message_went_to(
    store: Store, webhooks: Webhooks, activities: CollectionActivities
) -> None:
    open_case(activities, "c-1", "L-1")
    sent_attempt(store, "email-1", "M1", "email", case_id="c-1", recipient="old@example.cn")
    bounce = {"event": "bounce", "type": "bounce", "sg_message_id": "M1.f", "sg_event_id": "e1"}
    assert webhooks.sendgrid([bounce]).status_code == 200
    assert marks(store) == [("B-77", "email", "old@example.cn", "undeliverable")]
    # The borrower's mailbox on record is another one: email still goes there.
    assert activities.send_notice(contact("e-1", "c-1", "L-1", "email")).result == "sent"


async def test_the_operator_opt_out_is_recorded_for_the_current_address(
    store: Store,
    activities: CollectionActivities,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url(store))
    open_case(activities, "c-1", "L-1")
    command = ["opt-out", "--borrower-id", "B-77", "--channel", "email"]
    assert await starter.run(command) == 0
    assert marks(store) == [("B-77", "email", EMAIL, "opted_out")]
    open_case(activities, "c-2", "L-2", email="new@example.cn", opened_at=LATER)
    assert activities.send_notice(contact("e-1", "c-2", "L-2", "email")).result == "sent"
    # Undo speaks of the current mailbox, which has no opt-out; the old one keeps its own.
    assert await starter.run([*command, "--undo"]) == 0
    assert "not opted out; nothing changed" in capsys.readouterr().out
    assert marks(store) == [("B-77", "email", EMAIL, "opted_out")]


# -- the 0006 revision --------------------------------------------------------------------------


def test_0006_gives_each_mark_the_address_on_record_and_keeps_every_row(
    blank_store: Store,
) -> None:
    blank_store.migrate("0004_borrower_channels")
    with blank_store.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO borrowers (borrower_id, phone, email, locale, updated_at) VALUES "
            f"('B-1', '{PHONE}', '{EMAIL}', 'zh-CN', '2026-11-01T00:00:00.000000+00:00'), "
            f"('B-2', '{NEW_PHONE}', NULL, 'zh-CN', '2026-11-01T00:00:00.000000+00:00')"
        )
        connection.exec_driver_sql(
            "INSERT INTO borrower_channels (borrower_id, channel, state, source, reason, at) "
            "VALUES ('B-1', 'sms', 'opted_out', 'inbound_reply', 'SMS reply SM1', 't1'), "
            "('B-1', 'email', 'undeliverable', 'provider_rejection', 'bounce', 't2'), "
            "('B-2', 'email', 'opted_out', 'operator', NULL, 't3'), "
            "('B-3', 'sms', 'undeliverable', 'provider_rejection', NULL, 't4')"
        )

    blank_store.migrate()

    kept = sorted(
        (r.borrower_id, r.channel, r.recipient, r.state, r.source, r.reason, r.at)
        for r in rows(blank_store, BorrowerChannelRow)
    )
    assert kept == [
        ("B-1", "email", EMAIL, "undeliverable", "provider_rejection", "bounce", "t2"),
        ("B-1", "sms", PHONE, "opted_out", "inbound_reply", "SMS reply SM1", "t1"),
        ("B-2", "email", "", "opted_out", "operator", None, "t3"),
        ("B-3", "sms", "", "undeliverable", "provider_rejection", None, "t4"),
    ]
    assert rows(blank_store, InboundMessageRow) == []
    assert blocking_rule(blank_store, "B-1", "sms", PHONE) == "opt_out"
    assert blocking_rule(blank_store, "B-1", "sms", NEW_PHONE) is None
    # An opt-out whose address was never known holds for any; such a bounce for none.
    assert blocking_rule(blank_store, "B-2", "email", "any@example.cn") == "opt_out"
    assert blocking_rule(blank_store, "B-3", "sms", PHONE) is None
