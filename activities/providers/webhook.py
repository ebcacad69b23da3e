"""A generic JSON webhook, signed with HMAC-SHA256 so the receiver can tell it came from us.

Request: `POST <url>` with the JSON body `{"idempotency_key", "channel", "to", "body"}` and
the headers

    Idempotency-Key:           the contact attempt id (the same on every retry)
    X-Collections-Timestamp:   Unix seconds when this try was signed
    X-Collections-Signature:   sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>

A repeat of a send whose answer was lost goes out under the same Idempotency-Key, and the
receiver must drop it (that is its part of the contract): there is no lookup of earlier sends.

A receiver recomputes the signature over the raw bytes it received (`verify_signature`), and
should refuse timestamps older than a few minutes (a replayed request).

Answers: 2xx is sent (a JSON `{"id": ...}` becomes the provider reference); 400, 410 and 422
refuse the recipient for good (the channel becomes undeliverable for the borrower); 408, 425,
429 and 5xx are retried (after Retry-After when given); any other 4xx (401, 403, 404, ...) is
final but blamed on our configuration, not the borrower.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime

import httpx

from activities.providers.base import (
    UNDELIVERABLE,
    Delivery,
    OutboundMessage,
    failure,
    json_of,
    post,
)

IDEMPOTENCY_HEADER = "Idempotency-Key"
TIMESTAMP_HEADER = "X-Collections-Timestamp"
SIGNATURE_HEADER = "X-Collections-Signature"
SIGNATURE_PREFIX = "sha256="
RECIPIENT_REFUSED = frozenset({400, 410, 422})


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Collections-Signature` value for a body sent at `timestamp`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return SIGNATURE_PREFIX + digest.hexdigest()


def verify_signature(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """What a receiver does with the two headers and the raw body (constant-time compare)."""
    return hmac.compare_digest(signature(secret, timestamp, body), header)


class SignedWebhook:
    name = "webhook"

    def __init__(self, url: str, *, secret: str | None, client: httpx.Client) -> None:
        # `secret` None sends unsigned requests; configuration from the environment always
        # names one (`activities.providers.config`).
        self.url = url
        self.secret = secret
        self._client = client

    def deliver(self, message: OutboundMessage) -> Delivery:
        body = json.dumps(
            {
                "idempotency_key": message.idempotency_key,
                "channel": message.channel,
                "to": message.to,
                "body": message.body,
            },
            ensure_ascii=False,
        ).encode()
        headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: message.idempotency_key}
        if self.secret is not None:
            timestamp = str(int(time.time()))
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = signature(self.secret, timestamp, body)
        response = post(self._client, self.url, content=body, headers=headers)
        if not response.is_success:
            refused = response.status_code in RECIPIENT_REFUSED
            raise failure(response, recipient_state=UNDELIVERABLE if refused else None)
        data = json_of(response)
        ref = data.get("id") if isinstance(data, dict) else None
        return Delivery(via=self.name, provider_ref=None if ref is None else str(ref))

    def find_sent(self, message: OutboundMessage, *, since: datetime) -> Delivery | None:
        # The receiver drops a repeat of the Idempotency-Key: sending again is the lookup.
        return None
