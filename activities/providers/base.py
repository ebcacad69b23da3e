"""What every notification provider shares: the message, the outcome, and how HTTP answers map
to "sent", "refused for good" and "try again later".

Providers know nothing of Temporal or the database: they report a permanent refusal and a
passing failure as two exception types, and `send_notice` turns them into a non-retryable and a
retryable activity error (the latter carrying the provider's Retry-After).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx

DEFAULT_TIMEOUT_SECONDS = 10.0
# What a refusal means for the borrower's channel (`activities.borrower_channels`).
UNDELIVERABLE = "undeliverable"
OPTED_OUT = "opted_out"
# A report that lifts an opt-out (a SendGrid resubscribe); never a stored state.
OPTED_IN = "opted_in"
# Who said so (`borrower_channels.source`).
PROVIDER_REJECTION = "provider_rejection"
INBOUND_REPLY = "inbound_reply"
# Statuses that ask us to come back later; every other 4xx is final.
RETRYABLE_4XX = frozenset({408, 425, 429})
# How much of a provider's error answer is kept in the attempt's note and the log.
DETAIL_MAX = 300


@dataclass(frozen=True)
class OutboundMessage:
    """`idempotency_key` is the contact attempt id: the provider drops a repeat of it."""

    idempotency_key: str
    channel: str
    to: str
    body: str
    # An email's subject; providers without one (SMS, webhooks) ignore it.
    subject: str | None = None


@dataclass(frozen=True)
class Delivery:
    """`via` names the provider; "outbox" when none is configured: the outbox row is the
    delivery."""

    via: str
    provider_ref: str | None = None


class DeliveryRejected(Exception):
    """The provider refused the message for good: sending it again cannot help.

    `recipient_state` says what the refusal means for the borrower's channel: "undeliverable"
    (the number or address does not exist), "opted_out" (the provider keeps the borrower's
    STOP), or None when it is about us (credentials, configuration), not the borrower.
    """

    def __init__(self, status_code: int, detail: str, *, recipient_state: str | None = None):
        super().__init__(f"provider rejected the message with HTTP {status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail
        self.recipient_state = recipient_state


class DeliveryUnavailable(Exception):
    """The provider could not be reached, timed out, failed (5xx) or asked us to slow down
    (429): a later attempt may succeed, no sooner than `retry_after` when it said so."""

    def __init__(self, message: str, *, retry_after: timedelta | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Receipt:
    """One report a provider sent back about one message (`activities.receipts` records it).

    It names the message by `provider_refs` (the vendor's message id, in the forms it may
    take), else by `attempt_id` where the vendor echoes our idempotency key back. `status` is
    the delivery status to record, if the report is one; `channel_state` what the report means
    for the borrower's channel (opted_out, undeliverable, opted_in), if anything. `said_at` is
    when the vendor says it happened (UTC ISO), if it says; `event_id` its id of the report,
    if it has one.
    """

    channel: str
    status: str | None
    provider_refs: tuple[str, ...] = ()
    attempt_id: str | None = None
    channel_state: str | None = None
    source: str = PROVIDER_REJECTION
    reason: str | None = None
    said_at: str | None = None
    event_id: str | None = None


class Notifier(Protocol):
    def deliver(self, message: OutboundMessage) -> Delivery:
        """Send the message; raises `DeliveryRejected` or `DeliveryUnavailable`."""
        ...

    def find_sent(self, message: OutboundMessage, *, since: datetime) -> Delivery | None:
        """The provider's record of an earlier send of this message (same idempotency key),
        begun at `since` or later, whose answer never came back; None when the provider has
        none, so sending it now cannot make the borrower get it twice.

        A provider that drops a repeat of the idempotency key by itself answers None: sending
        again is its lookup. Raises `DeliveryUnavailable` when the provider cannot be asked:
        the caller then retries later and never sends blind."""
        ...


class Outbox:
    """No provider: the outbox row (and the log line) is the delivery."""

    name = "outbox"

    def deliver(self, message: OutboundMessage) -> Delivery:
        return Delivery(via=self.name)

    def find_sent(self, message: OutboundMessage, *, since: datetime) -> Delivery | None:
        # Nothing left the system: "sending" again only marks the row.
        return None


def post(client: httpx.Client, url: str, **request: Any) -> httpx.Response:
    """POST, turning every transport failure (timeout, refused connection, reset) into
    `DeliveryUnavailable`: the request may or may not have arrived, so the next try asks the
    provider (`Notifier.find_sent`) before sending again."""
    try:
        return client.post(url, **request)
    except httpx.HTTPError as error:
        raise DeliveryUnavailable(f"{type(error).__name__} calling the provider") from error


def get_json(client: httpx.Client, url: str, **request: Any) -> Any:
    """GET a provider's listing for a lookup of an earlier send. Whatever keeps us from reading
    it (a transport failure, any unsuccessful status, a body that is not JSON) is
    `DeliveryUnavailable`, with the Retry-After it carries: not knowing whether the message
    is there, the caller must not send it."""
    try:
        response = client.get(url, **request)
    except httpx.HTTPError as error:
        raise DeliveryUnavailable(
            f"{type(error).__name__} asking the provider for an earlier send"
        ) from error
    if not response.is_success:
        raise DeliveryUnavailable(
            f"provider answered HTTP {response.status_code} to the lookup of an earlier send: "
            f"{detail_of(response)}",
            retry_after=retry_after(response),
        )
    data = json_of(response)
    if data is None:
        raise DeliveryUnavailable("provider answered the lookup of an earlier send without JSON")
    return data


def failure(response: httpx.Response, *, recipient_state: str | None = None) -> Exception:
    """The exception for an unsuccessful answer: retryable for 5xx, 408, 425 and 429 (with the
    Retry-After it carries), final for every other status."""
    status = response.status_code
    if status >= 500 or status in RETRYABLE_4XX:
        return DeliveryUnavailable(
            f"provider answered HTTP {status}", retry_after=retry_after(response)
        )
    return DeliveryRejected(status, detail_of(response), recipient_state=recipient_state)


def detail_of(response: httpx.Response) -> str:
    return " ".join(response.text.split())[:DETAIL_MAX]


def json_of(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def retry_after(response: httpx.Response, *, now: datetime | None = None) -> timedelta | None:
    """The Retry-After header as a delay: delta-seconds or an HTTP date (RFC 9110 10.2.3).
    A value that is neither is ignored (the retry policy's backoff applies)."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when - (now or datetime.now(UTC)), timedelta(0))
