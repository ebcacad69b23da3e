"""The inbound webhooks (`starter.py webhooks`) as a real HTTP server on loopback, posting what
Twilio and SendGrid post, on real SQLite and PostgreSQL; and the operator's `opt-out` command.
"""

from __future__ import annotations

import json
import os
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

import starter
from activities.borrower_channels import OPERATOR, mark_undeliverable, opt_out
from activities.case_activities import CollectionActivities
from activities.contracts import ContactRequest, PrepareRequest
from activities.notify import WebhookNotifier
from activities.providers.twilio import request_signature
from activities.store import Store, utc_iso
from activities.tables import BorrowerChannelRow, BorrowerRow, ContactAttemptRow
from cli.inbound import InboundSettings, make_server
from domain.case import Borrower, CaseInput
from domain.opt_out import OPT_IN, OPT_OUT, reply_intent
from tests.conftest import POSTGRES_ENV

TOKEN = "twilio-auth-token"
SENDGRID_TOKEN = "sendgrid-hook-token"
PHONE = "+8613800138000"


# -- the world: cases, attempts and the server ----------------------------------------------


def borrower(borrower_id: str = "B-77") -> Borrower:
    return Borrower(borrower_id=borrower_id, name="王小明", phone=PHONE, email="w@example.cn")


@pytest.fixture
def activities(store: Store, tmp_path: Path) -> Iterator[CollectionActivities]:
    notifier = WebhookNotifier({})
    yield CollectionActivities(store, tmp_path / "evidence", notifier)
    notifier.close()


def open_case(
    activities: CollectionActivities, case_id: str, loan_id: str, borrower_id: str = "B-77"
) -> None:
    activities.prepare_case(
        PrepareRequest(
            case_id=case_id,
            workflow_id=f"collection-{loan_id}",
            case=CaseInput(
                loan_id=loan_id,
                borrower=borrower(borrower_id),
                currency="CNY",
                overdue_amount_minor=500_000,
                due_date="2026-11-01",
            ),
            opened_at="2026-11-05T01:00:00+00:00",
        )
    )


def contact(attempt_id: str, case_id: str, loan_id: str, channel: str = "sms") -> ContactRequest:
    return ContactRequest(
        case_id=case_id,
        attempt_id=attempt_id,
        loan_id=loan_id,
        channel=channel,
        template="reminder_friendly",
        days_past_due=3,
        currency="CNY",
        outstanding_minor=500_000,
        scheduled_at="2026-11-04T02:00:00+00:00",
    )


def sent_attempt(
    store: Store, attempt_id: str, provider_ref: str, channel: str = "sms", case_id: str = "c-1"
) -> None:
    """An attempt as a provider left it: sent, with the vendor's message id."""
    store.insert_if_absent(
        ContactAttemptRow(
            attempt_id=attempt_id,
            case_id=case_id,
            loan_id="L-1",
            channel=channel,
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


class Webhooks:
    """The running server and a client that posts as Twilio (signed) and SendGrid do."""

    def __init__(self, url: str, client: httpx.Client) -> None:
        self.url = url
        self.client = client

    def twilio(
        self, path: str, form: dict[str, str], *, token: str = TOKEN, signed: bool = True
    ) -> httpx.Response:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signed:
            headers["X-Twilio-Signature"] = request_signature(token, self.url + path, form.items())
        return self.client.post(self.url + path, content=urlencode(form), headers=headers)

    def sendgrid(self, events: Any, *, token: str = SENDGRID_TOKEN) -> httpx.Response:
        return self.client.post(
            f"{self.url}/sendgrid/events?{urlencode({'token': token})}",
            content=json.dumps(events),
            headers={"Content-Type": "application/json"},
        )


def run_server(store: Store, settings: InboundSettings) -> Iterator[Webhooks]:
    server = make_server(store, settings)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with httpx.Client(timeout=10) as client:
        yield Webhooks(f"http://127.0.0.1:{server.server_address[1]}", client)
    server.shutdown()
    server.server_close()
    thread.join()


SETTINGS = InboundSettings(
    host="127.0.0.1", port=0, twilio_auth_token=TOKEN, sendgrid_token=SENDGRID_TOKEN
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
    unsigned = webhooks.twilio("/twilio/inbound", {"From": PHONE, "Body": "STOP"}, signed=False)

    assert (forged.status_code, unsigned.status_code) == (403, 403)
    assert "X-Twilio-Signature" in forged.text
    assert attempt(store, "sms-1").delivery_status is None
    assert channel_rows(store) == []


def test_behind_a_proxy_the_signature_is_checked_against_the_public_url(store: Store) -> None:
    public = "https://collect.example.com/hooks"
    settings = replace(SETTINGS, public_url=public)
    sent_attempt(store, "sms-1", "SM100")
    for webhooks in run_server(store, settings):
        form = {"MessageSid": "SM100", "MessageStatus": "delivered"}
        signature = request_signature(TOKEN, public + "/twilio/status", form.items())
        local = webhooks.twilio("/twilio/status", form)  # signed for the local address
        proxied = webhooks.client.post(
            webhooks.url + "/twilio/status",
            content=urlencode(form),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": signature,
            },
        )
        assert (local.status_code, proxied.status_code) == (403, 204)
    assert attempt(store, "sms-1").delivery_status == "delivered"


# -- STOP and START replies -----------------------------------------------------------------


def test_a_stop_reply_opts_the_borrower_out_on_all_their_loans(
    store: Store, webhooks: Webhooks, activities: CollectionActivities
) -> None:
    open_case(activities, "c-1", "L-1")
    open_case(activities, "c-2", "L-2")
    add_borrower(store, "B-77")
    add_borrower(store, "B-88", phone="+8613900139000")

    answer = webhooks.twilio("/twilio/inbound", {"From": PHONE, "Body": "Stop", "To": "+1500"})

    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/xml")
    assert "<Response>" in answer.text
    assert channel_rows(store) == [("B-77", "sms", "opted_out", "inbound_reply")]
    for attempt_id, case_id, loan_id in (("a-1", "c-1", "L-1"), ("a-2", "c-2", "L-2")):
        result = activities.send_notice(contact(attempt_id, case_id, loan_id))
        assert (result.result, result.rule) == ("blocked", "opt_out")
    assert activities.send_notice(contact("e-1", "c-1", "L-1", "email")).result == "sent"

    start = webhooks.twilio("/twilio/inbound", {"From": PHONE, "Body": "START"})
    assert start.status_code == 200
    assert channel_rows(store) == []
    assert activities.send_notice(contact("a-3", "c-1", "L-1")).result == "sent"


def test_a_chinese_opt_out_reply_covers_every_borrower_with_that_number(
    store: Store, webhooks: Webhooks
) -> None:
    add_borrower(store, "B-77")
    add_borrower(store, "B-78")
    add_borrower(store, "B-99", phone="+8613900139000")
    assert webhooks.twilio("/twilio/inbound", {"From": PHONE, "Body": " 退订 "}).is_success
    assert channel_rows(store) == [
        ("B-77", "sms", "opted_out", "inbound_reply"),
        ("B-78", "sms", "opted_out", "inbound_reply"),
    ]


def test_other_replies_change_nothing(store: Store, webhooks: Webhooks) -> None:
    add_borrower(store, "B-77")
    answer = webhooks.twilio("/twilio/inbound", {"From": PHONE, "Body": "please don't stop"})
    assert answer.status_code == 200
    assert channel_rows(store) == []


def test_start_does_not_lift_an_undeliverable_mark(store: Store, webhooks: Webhooks) -> None:
    add_borrower(store, "B-77")
    mark_undeliverable(store, "B-77", "sms", source="provider_rejection", reason="21211")
    assert webhooks.twilio("/twilio/inbound", {"From": PHONE, "Body": "START"}).is_success
    assert channel_rows(store) == [("B-77", "sms", "undeliverable", "provider_rejection")]


@pytest.mark.parametrize(
    ("body", "intent"),
    [
        ("STOP", OPT_OUT),
        ("stop", OPT_OUT),
        ("Stop!", OPT_OUT),
        ("ＳＴＯＰ", OPT_OUT),
        ("unsubscribe", OPT_OUT),
        ("StopAll", OPT_OUT),
        ("cancel", OPT_OUT),
        ("end", OPT_OUT),
        ("quit", OPT_OUT),
        ("退订", OPT_OUT),
        ("退订。", OPT_OUT),
        ("td", OPT_OUT),
        ("start", OPT_IN),
        ("UNSTOP", OPT_IN),
        ("don't stop", None),
        ("stop it", None),
        ("", None),
        ("好的", None),
    ],
)
def test_reply_intent(body: str, intent: str | None) -> None:
    assert reply_intent(body) == intent


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
    }
    process = subprocess.Popen(
        [sys.executable, "starter.py", "webhooks"],
        cwd=Path(__file__).resolve().parent.parent,
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


async def test_the_webhooks_command_refuses_a_bad_port(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await starter.run(["webhooks", "--port", "99999"]) == 2
    assert "--port" in capsys.readouterr().err
    monkeypatch.setenv("WEBHOOKS_PORT", "http")
    assert await starter.run(["webhooks"]) == 2
    assert "WEBHOOKS_PORT" in capsys.readouterr().err
