"""The notification providers against a real HTTP server on loopback that speaks each vendor's
wire format (Twilio's Messages API, SendGrid's Mail Send, our signed JSON webhook), and
`send_notice` over them on real SQLite and PostgreSQL.

The loopback server records every request as it arrived (path, headers, raw body) and answers
with the scripted responses in order, so each test shows what went over the wire and what the
activity made of the answer.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from activities.borrower_channels import OPERATOR, opt_out
from activities.case_activities import CollectionActivities
from activities.notify import (
    ChannelNotifier,
    ProviderConfigError,
    WebhookNotifier,
)
from activities.providers.twilio import send_marker
from activities.providers.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignedWebhook,
    verify_signature,
)
from activities.store import Store
from migrations.tables import BorrowerChannelRow, ContactAttemptRow, utc_iso
from tests.helpers.activity_requests import EMAIL, PHONE
from tests.helpers.databases import rows
from tests.helpers.providers import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    SECRET,
    SENDGRID_KEY,
    Loopback,
    Reply,
    contact,
    message,
    prepare,
    send_error,
    sendgrid,
    serving_loopback,
    twilio,
    twilio_created,
    twilio_error,
)

# -- a loopback provider --------------------------------------------------------------------


@pytest.fixture
def loopback() -> Iterator[Loopback]:
    with serving_loopback() as served:
        yield served


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


# -- the wire format of each provider -------------------------------------------------------


def test_twilio_posts_the_messages_form_with_basic_auth_and_the_idempotency_token(
    loopback: Loopback, http: httpx.Client
) -> None:
    loopback.script = [twilio_created("SM123")]
    delivery = twilio(loopback, http).deliver(message())

    [seen] = loopback.seen
    assert seen.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert seen.header("Content-Type") == "application/x-www-form-urlencoded"
    assert seen.form == {
        "To": PHONE,
        "From": "+15005550006",
        # The attempt's marker, by which a later try finds this message in Twilio's list.
        "Body": f"hi\n{send_marker('attempt-1')}",
        "StatusCallback": "https://collect.example.com/twilio/status",
    }
    credentials = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert seen.header("Authorization") == f"Basic {credentials}"
    assert seen.header("I-Twilio-Idempotency-Token") == "attempt-1"
    assert (delivery.via, delivery.provider_ref) == ("twilio", "SM123")


def test_twilio_can_send_from_a_messaging_service(loopback: Loopback, http: httpx.Client) -> None:
    loopback.script = [twilio_created()]
    provider = twilio(
        loopback, http, from_number=None, messaging_service_sid="MG42", status_callback=None
    )
    provider.deliver(message())
    [seen] = loopback.seen
    assert seen.form == {
        "To": PHONE,
        "MessagingServiceSid": "MG42",
        "Body": f"hi\n{send_marker('attempt-1')}",
    }


def test_sendgrid_posts_mail_send_json_with_a_bearer_key_and_keeps_the_message_id(
    loopback: Loopback, http: httpx.Client
) -> None:
    loopback.script = [Reply(202, headers={"X-Message-Id": "XBg2anf2TqCy6WXKQFhieQ"})]
    delivery = sendgrid(loopback, http).deliver(message("email", "email-1"))

    [seen] = loopback.seen
    assert seen.path == "/v3/mail/send"
    assert seen.header("Authorization") == f"Bearer {SENDGRID_KEY}"
    assert seen.header("Idempotency-Key") == "email-1"
    assert seen.json == {
        "personalizations": [{"to": [{"email": EMAIL}]}],
        "from": {"email": "collections@lender.example", "name": "Lender"},
        "subject": "还款提醒 / Payment reminder",
        "content": [{"type": "text/plain", "value": "hi"}],
        "custom_args": {"idempotency_key": "email-1"},
    }
    assert (delivery.via, delivery.provider_ref) == ("sendgrid", "XBg2anf2TqCy6WXKQFhieQ")


def test_webhook_is_signed_so_the_receiver_can_verify_it_with_the_secret(
    loopback: Loopback, http: httpx.Client
) -> None:
    loopback.script = [Reply(200, {"id": "hook-1"})]
    before = int(time.time())
    delivery = SignedWebhook(loopback.url + "/send", secret=SECRET, client=http).deliver(
        message("letter", "letter-1")
    )

    [seen] = loopback.seen
    assert seen.json == {
        "idempotency_key": "letter-1",
        "channel": "letter",
        "to": EMAIL,
        "body": "hi",
    }
    assert seen.header("Idempotency-Key") == "letter-1"
    timestamp = seen.header(TIMESTAMP_HEADER)
    signature = seen.header(SIGNATURE_HEADER)
    assert timestamp is not None and signature is not None
    assert before <= int(timestamp) <= int(time.time())
    assert signature.startswith("sha256=")
    assert verify_signature(SECRET, timestamp, seen.body, signature)
    assert not verify_signature("another-secret", timestamp, seen.body, signature)
    assert not verify_signature(SECRET, timestamp, seen.body + b" ", signature)
    assert not verify_signature(SECRET, str(int(timestamp) + 1), seen.body, signature)
    assert delivery.provider_ref == "hook-1"


# -- send_notice through the providers ------------------------------------------------------


def channel_rows(store: Store) -> list[tuple[str, str, str, str]]:
    return [(r.borrower_id, r.channel, r.state, r.source) for r in rows(store, BorrowerChannelRow)]


@pytest.fixture
def vendors(
    store: Store, tmp_path: Path, loopback: Loopback, http: httpx.Client
) -> CollectionActivities:
    """SMS through Twilio, email through SendGrid, letters through the signed webhook, all
    on the loopback server; one case prepared."""
    notifier = ChannelNotifier(
        {
            "sms": twilio(loopback, http),
            "email": sendgrid(loopback, http),
            "letter": SignedWebhook(loopback.url + "/letters", secret=SECRET, client=http),
        }
    )
    activities = CollectionActivities(store, tmp_path / "evidence", notifier)
    prepare(activities)
    return activities


def test_a_5xx_is_retried_with_the_same_idempotency_key_and_sent_once(
    vendors: CollectionActivities, store: Store, loopback: Loopback
) -> None:
    loopback.script = [
        Reply(500, {"code": 20500}),
        Reply(200, {"messages": [], "next_page_uri": None}),  # the lookup: not there
        twilio_created("SM9"),
    ]
    error = send_error(vendors, contact("sms-1"))
    assert (error.type, error.non_retryable) == ("NotificationUnavailable", False)
    [pending] = rows(store, ContactAttemptRow)
    assert pending.status == "pending"

    result = vendors.send_notice(contact("sms-1"))
    again = vendors.send_notice(contact("sms-1"))

    assert (result.result, result.provider_ref) == ("sent", "SM9")
    assert again == result
    assert [(seen.method, seen.status) for seen in loopback.seen] == [
        ("POST", 500),
        ("GET", 200),
        ("POST", 201),
    ]
    posts = [seen for seen in loopback.seen if seen.method == "POST"]
    assert {seen.header("I-Twilio-Idempotency-Token") for seen in posts} == {"sms-1"}


def test_a_429_retry_after_becomes_the_activitys_next_retry_delay(
    vendors: CollectionActivities, loopback: Loopback
) -> None:
    loopback.script = [Reply(429, {"code": 20429}, headers={"Retry-After": "7"})]
    error = send_error(vendors, contact("sms-1"))
    assert (error.type, error.non_retryable) == ("NotificationUnavailable", False)
    assert error.next_retry_delay == timedelta(seconds=7)


def test_retry_after_holds_when_the_step_is_decided_again_during_the_wait(
    vendors: CollectionActivities, store: Store, loopback: Loopback
) -> None:
    """A payment arrives while the activity waits out Twilio's Retry-After: the case cancels
    the contact and decides the step again, which starts the activity anew at once (same
    attempt id). It answers "deferred" until the moment Twilio named, without calling it."""
    loopback.script = [Reply(429, {"code": 20429}, headers={"Retry-After": "120"})]
    before = datetime.now(UTC)
    error = send_error(vendors, contact("sms-1"))
    after = datetime.now(UTC)
    assert error.next_retry_delay == timedelta(seconds=120)
    [row] = rows(store, ContactAttemptRow)
    assert row.provider_not_before is not None
    not_before = datetime.fromisoformat(row.provider_not_before)
    assert before + timedelta(seconds=120) <= not_before <= after + timedelta(seconds=120)

    decided_again = replace(contact("sms-1"), outstanding_minor=400_000)
    held = vendors.send_notice(decided_again)
    held_again = vendors.send_notice(decided_again)

    assert (held.result, held.rule, held.retry_at) == (
        "deferred",
        "retry_after",
        not_before.isoformat(),
    )
    assert held_again == held
    assert len(loopback.seen) == 1
    [row] = rows(store, ContactAttemptRow)
    assert row.status == "pending"

    # The last moments of the wait: the activity's own short retry, still no call to Twilio.
    store.update(
        ContactAttemptRow,
        "sms-1",
        provider_not_before=utc_iso(datetime.now(UTC) + timedelta(seconds=1)),
    )
    error = send_error(vendors, decided_again)
    assert (error.type, error.non_retryable) == ("NotificationUnavailable", False)
    assert error.next_retry_delay is not None
    assert timedelta(0) < error.next_retry_delay <= timedelta(seconds=1)
    assert len(loopback.seen) == 1

    # The moment passes: the first try may have reached Twilio, so it is asked, then sent.
    store.update(
        ContactAttemptRow,
        "sms-1",
        provider_not_before=utc_iso(datetime.now(UTC) - timedelta(seconds=1)),
    )
    loopback.script = [Reply(200, {"messages": [], "next_page_uri": None}), twilio_created("SM7")]
    sent = vendors.send_notice(decided_again)
    assert (sent.result, sent.provider_ref) == ("sent", "SM7")
    assert [seen.method for seen in loopback.seen] == ["POST", "GET", "POST"]
    assert "4,000.00" in loopback.seen[-1].form["Body"]


def test_a_503_retry_after_date_becomes_the_next_retry_delay(
    vendors: CollectionActivities, loopback: Loopback
) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    loopback.script = [Reply(503, headers={"Retry-After": later})]
    error = send_error(vendors, contact("email-1", "email"))
    assert not error.non_retryable
    assert error.next_retry_delay is not None
    assert timedelta(seconds=110) <= error.next_retry_delay <= timedelta(seconds=120)


def test_a_provider_slower_than_the_timeout_is_retryable(
    store: Store, tmp_path: Path, loopback: Loopback
) -> None:
    # The provider answers after 4 s; the client gives up after 0.3 s. The activity's own
    # database work counts in the time too, and takes a second or more on a loaded machine.
    loopback.script = [Reply(201, {"sid": "SM-late"}, delay=4.0)]
    with httpx.Client(timeout=0.3) as client:
        notifier = ChannelNotifier({"sms": twilio(loopback, client)})
        activities = CollectionActivities(store, tmp_path, notifier)
        prepare(activities)
        started = time.monotonic()
        error = send_error(activities, contact("sms-1"))
    assert time.monotonic() - started < 3.5
    assert (error.type, error.non_retryable) == ("NotificationUnavailable", False)
    assert "Timeout" in error.message
    [attempt] = rows(store, ContactAttemptRow)
    assert attempt.status == "pending"


def test_a_refused_number_fails_for_good_and_blocks_the_channel_on_every_loan(
    vendors: CollectionActivities, store: Store, loopback: Loopback
) -> None:
    loopback.script = [twilio_error(400, 21211)]
    error = send_error(vendors, contact("sms-1"))
    assert (error.type, error.non_retryable) == ("NotificationRejected", True)
    [attempt] = rows(store, ContactAttemptRow)
    assert (attempt.status, attempt.result) == ("failed", "failed")
    assert channel_rows(store) == [("B-77", "sms", "undeliverable", "provider_rejection")]

    # The borrower's other loan: not sent, recorded as blocked with the rule's name.
    prepare(vendors, case_id="run-0002", loan_id="L-2002")
    result = vendors.send_notice(contact("sms-2", case_id="run-0002", loan_id="L-2002"))
    assert (result.result, result.rule) == ("blocked", "undeliverable")
    assert len(loopback.seen) == 1
    # Email is another channel: still sent.
    loopback.script = [Reply(202, headers={"X-Message-Id": "m-1"})]
    assert vendors.send_notice(contact("email-1", "email")).result == "sent"


def test_twilio_unsubscribed_recipient_marks_the_channel_opted_out(
    vendors: CollectionActivities, store: Store, loopback: Loopback
) -> None:
    loopback.script = [twilio_error(400, 21610)]
    assert send_error(vendors, contact("sms-1")).non_retryable
    assert channel_rows(store) == [("B-77", "sms", "opted_out", "provider_rejection")]


def test_sendgrid_400_on_the_to_field_marks_email_undeliverable(
    vendors: CollectionActivities, store: Store, loopback: Loopback
) -> None:
    loopback.script = [
        Reply(
            400,
            {
                "errors": [
                    {
                        "message": "Does not contain a valid address.",
                        "field": "personalizations.0.to.0.email",
                    }
                ]
            },
        )
    ]
    error = send_error(vendors, contact("email-1", "email"))
    assert (error.type, error.non_retryable) == ("NotificationRejected", True)
    assert channel_rows(store) == [("B-77", "email", "undeliverable", "provider_rejection")]


def test_webhook_422_marks_the_channel_undeliverable(
    vendors: CollectionActivities, store: Store, loopback: Loopback
) -> None:
    loopback.script = [Reply(422, {"error": "no such address"})]
    assert send_error(vendors, contact("letter-1", "letter")).non_retryable
    assert channel_rows(store) == [("B-77", "letter", "undeliverable", "provider_rejection")]


@pytest.mark.parametrize(
    ("channel", "reply"),
    [
        ("sms", twilio_error(401, 20003)),
        ("sms", twilio_error(400, 21606)),  # our From number cannot send
        ("email", Reply(403, {"errors": [{"message": "access forbidden"}]})),
        ("email", Reply(400, {"errors": [{"field": "from.email", "message": "bad"}]})),
        ("letter", Reply(401)),
    ],
)
def test_a_refusal_about_our_configuration_is_final_but_blames_no_borrower(
    vendors: CollectionActivities, store: Store, loopback: Loopback, channel: str, reply: Reply
) -> None:
    loopback.script = [reply]
    error = send_error(vendors, contact("n-1", channel))
    assert (error.type, error.non_retryable) == ("NotificationRejected", True)
    [attempt] = rows(store, ContactAttemptRow)
    assert attempt.status == "failed"
    assert channel_rows(store) == []
    # A re-run gets the same refusal without asking the provider again.
    assert send_error(vendors, contact("n-1", channel)).non_retryable
    assert len(loopback.seen) == 1


def test_an_opted_out_channel_is_not_sent_and_the_attempt_says_why(
    vendors: CollectionActivities, store: Store, loopback: Loopback
) -> None:
    opt_out(store, "B-77", "sms", source=OPERATOR)
    first = vendors.send_notice(contact("sms-1"))
    again = vendors.send_notice(contact("sms-1"))

    assert (first.result, first.rule, first.provider_ref) == ("blocked", "opt_out", None)
    assert again == first
    [attempt] = rows(store, ContactAttemptRow)
    assert (attempt.status, attempt.result, attempt.note, attempt.sent_at) == (
        "blocked",
        "blocked",
        "opt_out",
        None,
    )
    assert loopback.seen == []


def test_an_opt_out_between_retries_stops_the_retry(
    vendors: CollectionActivities, store: Store, loopback: Loopback
) -> None:
    loopback.script = [Reply(503)]
    assert not send_error(vendors, contact("sms-1")).non_retryable
    opt_out(store, "B-77", "sms", source="inbound_reply")

    result = vendors.send_notice(contact("sms-1"))

    assert (result.result, result.rule) == ("blocked", "opt_out")
    assert len(loopback.seen) == 1


def test_the_outbox_honours_opt_outs_too(store: Store, tmp_path: Path) -> None:
    activities = CollectionActivities(store, tmp_path, WebhookNotifier({}))
    prepare(activities)
    opt_out(store, "B-77", "email", source=OPERATOR)
    assert activities.send_notice(contact("email-1", "email")).result == "blocked"
    assert activities.send_notice(contact("sms-1", "sms")).result == "sent"


# -- configuration from the environment -----------------------------------------------------


def test_the_worker_refuses_to_start_with_a_partial_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cases.db'}")
    monkeypatch.setenv("SMS_PROVIDER", "twilio")
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    for name in ("TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER", "TWILIO_MESSAGING_SERVICE_SID"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ProviderConfigError, match="SMS_PROVIDER=twilio needs TWILIO_AUTH_TOKEN"):
        CollectionActivities.from_env()
