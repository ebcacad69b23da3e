"""A SendGrid-compatible email provider (the v3 Mail Send API).

Request: `POST {base}/v3/mail/send` with `Authorization: Bearer <api key>` and a JSON body of
`personalizations` (the one recipient), `from`, `subject` and plain-text `content`. SendGrid has
no idempotency header of its own: the attempt id goes in an `Idempotency-Key` header (honoured
by relays that know it) and in `custom_args.idempotency_key`, which SendGrid copies into every
event it posts back. SendGrid answers 202 with the message id in the `X-Message-Id` header; it
is kept as the provider reference (events carry it as the start of `sg_message_id`).

SendGrid's Mail Send drops no repeat of anything, so a send whose answer was lost is looked up
before it is sent again (`find_sent`): the Email Activity API (`GET {base}/v3/messages` with
`query=unique_args['idempotency_key']="<attempt id>"`, a paid add-on whose API key needs the
Email Activity scope) lists the messages that carry the custom argument; one found is the
send, its `msg_id` up to the first dot the X-Message-Id. Messages reach that listing some time
after they were accepted, so a retry soon after a lost answer may still find none.

Refusals: a 400 whose `errors[].field` points at a recipient (`personalizations.N.to...`) makes
the borrower's email channel undeliverable; every other 4xx (401/403 key, 400 on another
field, 413, ...) is final and ours to fix.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import httpx

from activities.providers.base import (
    INBOUND_REPLY,
    OPTED_IN,
    OPTED_OUT,
    UNDELIVERABLE,
    Delivery,
    DeliveryUnavailable,
    OutboundMessage,
    Receipt,
    failure,
    get_json,
    json_of,
    post,
)

DEFAULT_API_BASE = "https://api.sendgrid.com"
DEFAULT_SUBJECT = "还款提醒 / Payment reminder"
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_ARG = "idempotency_key"
MESSAGE_ID_HEADER = "X-Message-Id"
# One attempt is one message to one recipient; a few more leave room for a resend elsewhere.
LOOKUP_LIMIT = 10
RECIPIENT_FIELD = re.compile(r"personalizations(\.\d+)?\.to\b")
# Event Webhook events that are delivery statuses; engagement events (open, click) are not.
DELIVERY_EVENTS = frozenset({"processed", "deferred", "delivered", "bounce", "dropped"})
# Events by which the borrower asks for no more email.
OPT_OUT_EVENTS = frozenset({"unsubscribe", "group_unsubscribe", "spamreport"})
# ... and by which they ask for it again.
OPT_IN_EVENTS = frozenset({"group_resubscribe"})
# SendGrid's event ids are 22-character base64; anything far longer is not one.
EVENT_ID_MAX = 128
# Why SendGrid dropped a message without trying: the address is dead, or the borrower said no.
DROP_STATE_BY_REASON = {
    "Bounced Address": UNDELIVERABLE,
    "Invalid": UNDELIVERABLE,
    "Unsubscribed Address": OPTED_OUT,
    "Spam Reporting Address": OPTED_OUT,
}


class SendGridEmail:
    name = "sendgrid"

    def __init__(
        self,
        *,
        api_key: str,
        from_email: str,
        client: httpx.Client,
        from_name: str | None = None,
        subject: str = DEFAULT_SUBJECT,
        api_base: str = DEFAULT_API_BASE,
    ) -> None:
        self.url = f"{api_base.rstrip('/')}/v3/mail/send"
        self.activity_url = f"{api_base.rstrip('/')}/v3/messages"
        self._api_key = api_key
        self._sender = {"email": from_email, **({"name": from_name} if from_name else {})}
        self._subject = subject
        self._client = client

    def deliver(self, message: OutboundMessage) -> Delivery:
        payload = {
            "personalizations": [{"to": [{"email": message.to}]}],
            "from": self._sender,
            "subject": message.subject or self._subject,
            "content": [{"type": "text/plain", "value": message.body}],
            "custom_args": {IDEMPOTENCY_ARG: message.idempotency_key},
        }
        response = post(
            self._client,
            self.url,
            json=payload,
            headers={
                "Authorization": f"Bearer {self._api_key}",
                IDEMPOTENCY_HEADER: message.idempotency_key,
            },
        )
        if not response.is_success:
            raise failure(response, recipient_state=_recipient_state(response))
        return Delivery(via=self.name, provider_ref=response.headers.get(MESSAGE_ID_HEADER))

    def find_sent(self, message: OutboundMessage, *, since: datetime) -> Delivery | None:
        # The attempt id is unique, so no time window is needed; json.dumps quotes it.
        query = f"unique_args['{IDEMPOTENCY_ARG}']={json.dumps(message.idempotency_key)}"
        data = get_json(
            self._client,
            self.activity_url,
            params={"query": query, "limit": str(LOOKUP_LIMIT)},
            headers={"Authorization": f"Bearer {self._api_key}"},
        )
        found = data.get("messages") if isinstance(data, dict) else None
        if not isinstance(found, list):
            raise DeliveryUnavailable("SendGrid's Email Activity answer has no `messages` array")
        for earlier in found:
            msg_id = earlier.get("msg_id") if isinstance(earlier, dict) else None
            if isinstance(msg_id, str) and msg_id:
                # Stored as Mail Send's X-Message-Id would have been: receipts match either.
                return Delivery(via=self.name, provider_ref=msg_id.split(".", 1)[0])
        return None


def _recipient_state(response: httpx.Response) -> str | None:
    if response.status_code != 400:
        return None
    data = json_of(response)
    errors = data.get("errors") if isinstance(data, dict) else None
    for error in errors if isinstance(errors, list) else []:
        field = error.get("field") if isinstance(error, dict) else None
        if isinstance(field, str) and RECIPIENT_FIELD.match(field):
            return UNDELIVERABLE
    return None


def event_receipt(event: Any, index: int) -> Receipt | None:
    """One Event Webhook event as a receipt; None for an event that is neither a delivery
    status nor an opt-out or opt-in. Raises `ValueError` naming the bad field
    (`[index].event`)."""
    if not isinstance(event, dict):
        raise ValueError(f"[{index}]: must be a JSON object")
    name = event.get("event")
    if not isinstance(name, str) or not name:
        raise ValueError(f"[{index}].event: is required")
    if name not in DELIVERY_EVENTS | OPT_OUT_EVENTS | OPT_IN_EVENTS:
        return None
    message_id = event.get("sg_message_id")
    attempt_id = event.get(IDEMPOTENCY_ARG)
    if not isinstance(message_id, str) and not isinstance(attempt_id, str):
        raise ValueError(f"[{index}].sg_message_id: is required")
    # sg_message_id is the X-Message-Id we stored, a dot, and SendGrid's filter suffix.
    refs = (message_id, message_id.split(".", 1)[0]) if isinstance(message_id, str) else ()
    reason = event.get("reason") if isinstance(event.get("reason"), str) else None
    attempt = attempt_id if isinstance(attempt_id, str) else None
    said_at, event_id = _said_at(event, index), _event_id(event, index)
    if name in OPT_OUT_EVENTS or name in OPT_IN_EVENTS:
        return Receipt(
            channel="email",
            status=None,
            channel_state=OPTED_OUT if name in OPT_OUT_EVENTS else OPTED_IN,
            source=INBOUND_REPLY,
            reason=f"SendGrid {name}",
            provider_refs=refs,
            attempt_id=attempt,
            said_at=said_at,
            event_id=event_id,
        )
    state = None
    if name == "bounce" and event.get("type") != "blocked":
        # A "blocked" bounce is the receiving server refusing us for now, not a dead address.
        state = UNDELIVERABLE
    elif name == "dropped" and reason is not None:
        state = DROP_STATE_BY_REASON.get(reason)
    return Receipt(
        channel="email",
        status=name,
        channel_state=state,
        reason=f"SendGrid {name}: {reason}"[:300] if reason else f"SendGrid {name}",
        provider_refs=refs,
        attempt_id=attempt,
        said_at=said_at,
        event_id=event_id,
    )


def _said_at(event: dict[str, Any], index: int) -> str | None:
    """The event's `timestamp` (Unix seconds) as UTC ISO; None if it has none."""
    timestamp = event.get("timestamp")
    if timestamp is None:
        return None
    # bool is an int to Python, not a time to anyone.
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise ValueError(f"[{index}].timestamp: must be Unix seconds, a whole number")
    try:
        moment = datetime.fromtimestamp(timestamp, UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"[{index}].timestamp: must be Unix seconds, a whole number") from None
    return moment.isoformat(timespec="microseconds")


def _event_id(event: dict[str, Any], index: int) -> str | None:
    event_id = event.get("sg_event_id")
    if event_id is None:
        return None
    if not isinstance(event_id, str) or not 0 < len(event_id) <= EVENT_ID_MAX:
        raise ValueError(f"[{index}].sg_event_id: must be text of 1 to {EVENT_ID_MAX} characters")
    return event_id
