"""A Twilio-compatible SMS provider (the Programmable Messaging REST API).

Request: `POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`, a form body with `To`,
`Body`, `From` or `MessagingServiceSid`, and `StatusCallback` when configured; HTTP basic auth
AccountSid:AuthToken; the attempt id in `I-Twilio-Idempotency-Token`. Twilio answers 201 with
the message resource, whose `sid` is kept as the provider reference (delivery receipts name it
as `MessageSid`).

Twilio takes no idempotency key for messages (the header is sent for relays that honour it;
Twilio ignores it), so a send whose answer was lost is looked up before it is sent again
(`find_sent`): every message ends with a short marker derived from the attempt id
(`send_marker`, e.g. "[ref K7Q2M9XA]"), and the lookup lists the messages to the borrower's
number (`GET .../Messages.json?To=...`) for one carrying it. A message still `accepted` or
`queued` has no `date_sent`, so a `DateSent>` filter would hide it: the first page is read
without a filter (a borrower's number rarely has more), and only when there are more pages are
the messages sent since the day the first try began (`DateSent>=YYYY-MM-DD`, GMT) read page by
page. The marker, not the body, is matched: the body of a step decided again may state another
amount, but it is the same attempt.

Refusals (HTTP 400 with Twilio's error `code`): 21211 (invalid To number), 21612 (To cannot be
reached by SMS) and 21614 (To is not a mobile number) make the borrower's SMS channel
undeliverable; 21610 (the recipient replied STOP to our sender) makes it opted out. Every other
4xx (20003 authentication, 21606 bad From, 21608 trial account, ...) is final and ours to fix.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from activities.providers import base

DEFAULT_API_BASE = "https://api.twilio.com"
IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
SIGNATURE_HEADER = "X-Twilio-Signature"
# Twilio error codes that are about the recipient, not about us, when sending.
RECIPIENT_STATE_BY_CODE = {
    21211: base.UNDELIVERABLE,
    21612: base.UNDELIVERABLE,
    21614: base.UNDELIVERABLE,
    21610: base.OPTED_OUT,
}
# ... and in a status callback of a failed message: also 30005 (unknown handset) and 30006
# (landline or unreachable carrier). 30003 (handset off), 30004 (blocked), 30007 (filtered)
# and the rest may pass or are not the borrower's doing, so the channel stays open.
RECEIPT_STATE_BY_CODE = {
    **RECIPIENT_STATE_BY_CODE,
    30005: base.UNDELIVERABLE,
    30006: base.UNDELIVERABLE,
}
MESSAGE_STATUSES = frozenset(
    {"accepted", "queued", "sending", "sent", "delivered", "undelivered", "failed"}
)
FAILED_STATUSES = frozenset({"undelivered", "failed"})
# A lookup reads at most this many messages to one number: far more than a case ever sends.
LOOKUP_PAGE_SIZE = 100
LOOKUP_MAX_PAGES = 10


class TwilioSms:
    name = "twilio"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        client: httpx.Client,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        status_callback: str | None = None,
        api_base: str = DEFAULT_API_BASE,
    ) -> None:
        if (from_number is None) == (messaging_service_sid is None):
            raise ValueError("give exactly one of from_number and messaging_service_sid")
        self._api_base = api_base.rstrip("/")
        self.url = f"{self._api_base}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._auth = (account_sid, auth_token)
        self._sender = (
            {"From": from_number}
            if from_number is not None
            else {"MessagingServiceSid": str(messaging_service_sid)}
        )
        self._status_callback = status_callback
        self._client = client

    def deliver(self, message: base.OutboundMessage) -> base.Delivery:
        body = f"{message.body}\n{send_marker(message.idempotency_key)}"
        form = {"To": message.to, **self._sender, "Body": body}
        if self._status_callback:
            form["StatusCallback"] = self._status_callback
        response = base.post(
            self._client,
            self.url,
            data=form,
            auth=self._auth,
            headers={IDEMPOTENCY_HEADER: message.idempotency_key},
        )
        if not response.is_success:
            raise base.failure(response, recipient_state=_recipient_state(response))
        data = base.json_of(response)
        sid = data.get("sid") if isinstance(data, dict) else None
        return base.Delivery(via=self.name, provider_ref=None if sid is None else str(sid))

    def find_sent(self, message: base.OutboundMessage, *, since: datetime) -> base.Delivery | None:
        marker = send_marker(message.idempotency_key)
        listing = {"To": message.to, "PageSize": str(LOOKUP_PAGE_SIZE)}
        page = self._page(self.url, listing)
        found = self._marked(page, marker)
        if found is not None or not page.get("next_page_uri"):
            return found
        # More than a page to this number: read what was sent since the first try's day.
        url = self.url
        params: dict[str, str] | None = {
            **listing,
            "DateSent>": since.astimezone(UTC).date().isoformat(),
        }
        for _ in range(LOOKUP_MAX_PAGES):
            page = self._page(url, params)
            found = self._marked(page, marker)
            if found is not None:
                return found
            next_page = page.get("next_page_uri")
            if not isinstance(next_page, str) or not next_page:
                return None
            # The next page's URI carries the filters and Twilio's page token.
            url, params = self._api_base + next_page, None
        raise base.DeliveryUnavailable(
            f"more than {LOOKUP_MAX_PAGES * LOOKUP_PAGE_SIZE} messages to the number since "
            "the first try: cannot tell whether it was sent"
        )

    def _page(self, url: str, params: dict[str, str] | None) -> dict[str, Any]:
        data = base.get_json(self._client, url, params=params, auth=self._auth)
        if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
            raise base.DeliveryUnavailable("Twilio's message list has no `messages` array")
        return data

    def _marked(self, page: dict[str, Any], marker: str) -> base.Delivery | None:
        for found in page["messages"]:
            if not isinstance(found, dict):
                continue
            body = found.get("body")
            direction = found.get("direction")
            if (
                isinstance(body, str)
                and marker in body
                and isinstance(direction, str)
                and direction.startswith("outbound")
            ):
                sid = found.get("sid")
                return base.Delivery(via=self.name, provider_ref=None if sid is None else str(sid))
        return None


def send_marker(idempotency_key: str) -> str:
    """What ends every SMS of one attempt and no other's: short, so the borrower reads past it,
    and derived from the attempt id, which Twilio has no field for."""
    digest = hashlib.sha256(idempotency_key.encode()).digest()
    return f"[ref {base64.b32encode(digest)[:8].decode()}]"


def _recipient_state(response: httpx.Response) -> str | None:
    if response.status_code != 400:
        return None
    data = base.json_of(response)
    code = data.get("code") if isinstance(data, dict) else None
    return RECIPIENT_STATE_BY_CODE.get(code) if isinstance(code, int) else None


def request_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """Twilio's `X-Twilio-Signature`: base64 HMAC-SHA1, keyed by the auth token, of the full
    URL Twilio requested followed by every POST parameter's name and value, sorted by name
    (repeated names sorted by value)."""
    payload = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signature_is_valid(
    auth_token: str, url: str, params: Iterable[tuple[str, str]], header: str
) -> bool:
    return hmac.compare_digest(request_signature(auth_token, url, params), header)


def status_receipt(params: Mapping[str, str]) -> base.Receipt | None:
    """A status callback (form fields `MessageSid`, `MessageStatus`, `ErrorCode`) as a receipt;
    None for a status we do not track (scheduled, canceled, read, ...). Raises `ValueError`
    naming a missing field."""
    sid = params.get("MessageSid", "").strip()
    if not sid:
        raise ValueError("MessageSid: is required")
    status = params.get("MessageStatus", "").strip().lower()
    if not status:
        raise ValueError("MessageStatus: is required")
    if status not in MESSAGE_STATUSES:
        return None
    error_code = params.get("ErrorCode", "").strip()
    state = None
    if status in FAILED_STATUSES and error_code.isdigit():
        state = RECEIPT_STATE_BY_CODE.get(int(error_code))
    return base.Receipt(
        channel="sms",
        status=status,
        provider_refs=(sid,),
        channel_state=state,
        reason=f"Twilio {status}, error {error_code}" if error_code else f"Twilio {status}",
    )
