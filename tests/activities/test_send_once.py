"""At most one message to the borrower per attempt, also where the vendor takes no idempotency
key: `send_notice` against stateful fakes of Twilio and SendGrid
(tests/helpers/fake_vendors.py) over
real HTTP on loopback, on real SQLite and PostgreSQL.

Each test loses a send in a different place (the vendor recorded it and the answer was lost;
it never arrived; the vendor cannot be asked) and counts what the borrower would have received.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from activities.case_activities import CollectionActivities
from activities.notify import ChannelNotifier
from activities.providers.sendgrid import SendGridEmail
from activities.providers.twilio import TwilioSms, send_marker
from activities.store import Store
from migrations.tables import ContactAttemptRow
from tests.helpers.activity_requests import EMAIL, PHONE
from tests.helpers.databases import rows
from tests.helpers.fake_vendors import (
    DROP_AFTER_RECORDING,
    DROP_BEFORE_RECORDING,
    FakeSendGrid,
    FakeTwilio,
    FakeVendor,
    GetFault,
    serving,
)
from tests.helpers.providers import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    SENDGRID_KEY,
    contact,
    prepare,
    send_error,
)


@pytest.fixture
def twilio_fake() -> Iterator[FakeTwilio]:
    with serving(FakeTwilio(ACCOUNT_SID, AUTH_TOKEN)) as fake:
        assert isinstance(fake, FakeTwilio)
        yield fake


@pytest.fixture
def sendgrid_fake() -> Iterator[FakeSendGrid]:
    with serving(FakeSendGrid(SENDGRID_KEY)) as fake:
        assert isinstance(fake, FakeSendGrid)
        yield fake


@pytest.fixture
def activities(
    store: Store, tmp_path: Path, twilio_fake: FakeTwilio, sendgrid_fake: FakeSendGrid
) -> Iterator[CollectionActivities]:
    with httpx.Client(timeout=5) as client:
        notifier = ChannelNotifier(
            {
                "sms": TwilioSms(
                    account_sid=ACCOUNT_SID,
                    auth_token=AUTH_TOKEN,
                    from_number="+15005550006",
                    api_base=twilio_fake.url,
                    client=client,
                ),
                "email": SendGridEmail(
                    api_key=SENDGRID_KEY,
                    from_email="collections@lender.example",
                    api_base=sendgrid_fake.url,
                    client=client,
                ),
            }
        )
        collection = CollectionActivities(store, tmp_path / "evidence", notifier)
        prepare(collection)
        yield collection


def vendor_of(channel: str, twilio_fake: FakeTwilio, sendgrid_fake: FakeSendGrid) -> FakeVendor:
    return twilio_fake if channel == "sms" else sendgrid_fake


def received(fake: FakeVendor) -> list[dict[str, Any]]:
    """The messages the vendor holds for the borrower: what they would receive."""
    if isinstance(fake, FakeTwilio):
        return fake.to(PHONE)
    assert isinstance(fake, FakeSendGrid)
    return [m for m in fake.messages if m["to_email"] == EMAIL]


def ref_of(message: dict[str, Any]) -> str:
    """The provider reference a send stores for the message (SendGrid: the X-Message-Id)."""
    return str(message["sid"]) if "sid" in message else str(message["msg_id"]).split(".")[0]


CHANNELS = pytest.mark.parametrize("channel", ["sms", "email"])


@CHANNELS
def test_a_send_whose_answer_was_lost_is_found_at_the_vendor_and_not_sent_again(
    activities: CollectionActivities,
    store: Store,
    twilio_fake: FakeTwilio,
    sendgrid_fake: FakeSendGrid,
    channel: str,
) -> None:
    fake = vendor_of(channel, twilio_fake, sendgrid_fake)
    fake.post_faults = [DROP_AFTER_RECORDING]

    error = send_error(activities, contact("n-1", channel))

    assert (error.type, error.non_retryable) == ("NotificationUnavailable", False)
    [pending] = rows(store, ContactAttemptRow)
    assert (pending.status, pending.send_tries) == ("pending", 1)
    assert pending.send_started_at is not None
    assert fake.of("GET") == []  # a first try asks nothing
    [message] = received(fake)

    result = activities.send_notice(contact("n-1", channel))
    again = activities.send_notice(contact("n-1", channel))

    assert (result.result, result.provider_ref) == ("sent", ref_of(message))
    assert again == result
    assert received(fake) == [message]
    assert len(fake.of("POST")) == 1
    assert len(fake.of("GET")) == 1
    [sent] = rows(store, ContactAttemptRow)
    assert (sent.status, sent.provider_ref, sent.send_tries) == ("sent", ref_of(message), 1)


@CHANNELS
def test_a_send_that_never_reached_the_vendor_is_sent_on_the_retry(
    activities: CollectionActivities,
    twilio_fake: FakeTwilio,
    sendgrid_fake: FakeSendGrid,
    channel: str,
) -> None:
    fake = vendor_of(channel, twilio_fake, sendgrid_fake)
    fake.post_faults = [DROP_BEFORE_RECORDING]
    # Another attempt's message with the same text: its marker is not this attempt's.
    earlier = datetime.now(UTC) - timedelta(days=3)
    twilio_fake.add(to=PHONE, body=f"the same text\n{send_marker('n-0')}", sent_at=earlier)

    assert not send_error(activities, contact("n-1", channel)).non_retryable
    assert len(received(fake)) == (1 if channel == "sms" else 0)

    result = activities.send_notice(contact("n-1", channel))

    new = [m for m in received(fake) if m.get("body", "").endswith(send_marker("n-1"))]
    [message] = new if channel == "sms" else received(fake)
    assert (result.result, result.provider_ref) == ("sent", ref_of(message))
    assert len(fake.of("POST")) == 2
    assert len(fake.of("GET")) == 1


@CHANNELS
def test_a_lookup_that_fails_sends_nothing_and_is_retried(
    activities: CollectionActivities,
    store: Store,
    twilio_fake: FakeTwilio,
    sendgrid_fake: FakeSendGrid,
    channel: str,
) -> None:
    fake = vendor_of(channel, twilio_fake, sendgrid_fake)
    # The message never arrived, so a blind send would reach the borrower: none may happen.
    fake.post_faults = [DROP_BEFORE_RECORDING]
    fake.get_faults = [GetFault(503), GetFault(403)]
    assert not send_error(activities, contact("n-1", channel)).non_retryable

    for _ in range(2):
        error = send_error(activities, contact("n-1", channel))
        assert (error.type, error.non_retryable) == ("NotificationUnavailable", False)
        assert "lookup of an earlier send" in error.message

    assert len(fake.of("POST")) == 1
    assert received(fake) == []
    [pending] = rows(store, ContactAttemptRow)
    assert pending.status == "pending"
    # The vendor answers again: it has nothing, so now it is sent.
    assert activities.send_notice(contact("n-1", channel)).result == "sent"
    assert len(received(fake)) == 1


def test_a_queued_sms_has_no_date_sent_and_is_found_all_the_same(
    activities: CollectionActivities, twilio_fake: FakeTwilio
) -> None:
    """Twilio's DateSent filter hides a message not yet handed to the carrier; the lookup
    reads the number's unfiltered first page, where Twilio lists it."""
    twilio_fake.post_faults = [DROP_AFTER_RECORDING]
    assert not send_error(activities, contact("n-1")).non_retryable
    [queued] = twilio_fake.to(PHONE)
    assert (queued["status"], queued["date_sent"]) == ("queued", None)

    result = activities.send_notice(contact("n-1"))

    assert (result.result, result.provider_ref) == ("sent", queued["sid"])
    [lookup] = twilio_fake.of("GET")
    assert lookup.query == {"To": PHONE, "PageSize": "100"}


def test_past_the_first_page_the_lookup_reads_what_was_sent_since_the_first_try(
    activities: CollectionActivities, store: Store, twilio_fake: FakeTwilio
) -> None:
    twilio_fake.post_faults = [DROP_AFTER_RECORDING]
    assert not send_error(activities, contact("n-1")).non_retryable
    [ours] = twilio_fake.to(PHONE)
    first_try = datetime.now(UTC)
    twilio_fake.send_all(at=first_try)
    # Enough later messages to the number that ours is on the second page.
    for minute in range(1, 121):
        twilio_fake.add(
            to=PHONE, body=f"other {minute}", sent_at=first_try + timedelta(minutes=minute)
        )

    result = activities.send_notice(contact("n-1"))

    assert (result.result, result.provider_ref) == ("sent", ours["sid"])
    assert len(twilio_fake.of("POST")) == 1
    [row] = rows(store, ContactAttemptRow)
    assert row.send_started_at is not None
    started_day = datetime.fromisoformat(row.send_started_at).astimezone(UTC).date()
    unfiltered, *dated = twilio_fake.of("GET")
    assert "DateSent>" not in unfiltered.query
    assert [lookup.query.get("DateSent>") for lookup in dated] == [started_day.isoformat()] * len(
        dated
    )
    assert [lookup.query.get("Page") for lookup in dated] == [None, "1"]


def test_a_step_decided_again_with_a_new_amount_is_still_the_same_message(
    activities: CollectionActivities, twilio_fake: FakeTwilio
) -> None:
    """A payment made the case decide the step again: the new text states another amount, but
    the attempt is the same, and Twilio has its first text: nothing more is sent."""
    twilio_fake.post_faults = [DROP_AFTER_RECORDING]
    assert not send_error(activities, contact("n-1")).non_retryable

    result = activities.send_notice(replace(contact("n-1"), outstanding_minor=300_000))

    assert result.result == "sent"
    assert len(twilio_fake.to(PHONE)) == 1


def test_a_lookup_answered_with_retry_after_holds_the_attempt_until_then(
    activities: CollectionActivities, store: Store, twilio_fake: FakeTwilio
) -> None:
    twilio_fake.post_faults = [DROP_BEFORE_RECORDING]
    twilio_fake.get_faults = [GetFault(429, {"Retry-After": "60"})]
    assert not send_error(activities, contact("n-1")).non_retryable
    error = send_error(activities, contact("n-1"))
    assert error.next_retry_delay == timedelta(seconds=60)
    asked = len(twilio_fake.requests)

    held = activities.send_notice(contact("n-1"))

    [row] = rows(store, ContactAttemptRow)
    assert (held.result, held.rule) == ("deferred", "retry_after")
    assert row.provider_not_before is not None
    assert held.retry_at == datetime.fromisoformat(row.provider_not_before).isoformat()
    assert len(twilio_fake.requests) == asked


def test_sendgrid_activity_that_lags_behind_mail_send_is_the_at_least_once_left(
    activities: CollectionActivities, sendgrid_fake: FakeSendGrid
) -> None:
    """What the README states: a message accepted but not yet in the Email Activity cannot be
    found, and is sent again. The lookup asked the right question all the same."""
    sendgrid_fake.listed_after_acceptance = False
    sendgrid_fake.post_faults = [DROP_AFTER_RECORDING]
    assert not send_error(activities, contact("n-1", "email")).non_retryable

    assert activities.send_notice(contact("n-1", "email")).result == "sent"

    assert len(received(sendgrid_fake)) == 2
    [lookup] = sendgrid_fake.of("GET")
    assert lookup.query == {"query": "unique_args['idempotency_key']=\"n-1\"", "limit": "10"}
