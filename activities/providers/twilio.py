"""A Twilio-compatible SMS provider (the Programmable Messaging REST API).

Request: `POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`, a form body with `To`,
`Body`, `From` or `MessagingServiceSid`, and `StatusCallback` when configured; HTTP basic auth
AccountSid:AuthToken; the attempt id in `I-Twilio-Idempotency-Token`. Twilio answers 201 with
the message resource, whose `sid` is kept as the provider reference (delivery receipts name it
as `MessageSid`).

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

import httpx

from activities.providers.base import (
    OPTED_OUT,
    UNDELIVERABLE,
    Delivery,
    OutboundMessage,
    Receipt,
    failure,
    json_of,
    post,
)

DEFAULT_API_BASE = "https://api.twilio.com"
IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
SIGNATURE_HEADER = "X-Twilio-Signature"
# Twilio error codes that are about the recipient, not about us, when sending.
RECIPIENT_STATE_BY_CODE = {
    21211: UNDELIVERABLE,
    21612: UNDELIVERABLE,
    21614: UNDELIVERABLE,
    21610: OPTED_OUT,
}
# ... and in a status callback of a failed message: also 30005 (unknown handset) and 30006
# (landline or unreachable carrier). 30003 (handset off), 30004 (blocked), 30007 (filtered)
# and the rest may pass or are not the borrower's doing, so the channel stays open.
RECEIPT_STATE_BY_CODE = {**RECIPIENT_STATE_BY_CODE, 30005: UNDELIVERABLE, 30006: UNDELIVERABLE}
MESSAGE_STATUSES = frozenset(
    {"accepted", "queued", "sending", "sent", "delivered", "undelivered", "failed"}
)
FAILED_STATUSES = frozenset({"undelivered", "failed"})


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
        self.url = f"{api_base.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._auth = (account_sid, auth_token)
        self._sender = (
            {"From": from_number}
            if from_number is not None
            else {"MessagingServiceSid": str(messaging_service_sid)}
        )
        self._status_callback = status_callback
        self._client = client

    def deliver(self, message: OutboundMessage) -> Delivery:
        form = {"To": message.to, **self._sender, "Body": message.body}
        if self._status_callback:
            form["StatusCallback"] = self._status_callback
        response = post(
            self._client,
            self.url,
            data=form,
            auth=self._auth,
            headers={IDEMPOTENCY_HEADER: message.idempotency_key},
        )
        if not response.is_success:
            raise failure(response, recipient_state=_recipient_state(response))
        data = json_of(response)
        sid = data.get("sid") if isinstance(data, dict) else None
        return Delivery(via=self.name, provider_ref=None if sid is None else str(sid))


def _recipient_state(response: httpx.Response) -> str | None:
    if response.status_code != 400:
        return None
    data = json_of(response)
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


def status_receipt(params: Mapping[str, str]) -> Receipt | None:
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
    return Receipt(
        channel="sms",
        status=status,
        provider_refs=(sid,),
        channel_state=state,
        reason=f"Twilio {status}, error {error_code}" if error_code else f"Twilio {status}",
    )
