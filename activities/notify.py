"""Delivery of SMS, email and letters to a provider, or to nowhere but the outbox table.

The notifier knows nothing of Temporal: it reports a permanent refusal and a passing failure
as two exception types, and `send_notice` turns them into a non-retryable and a retryable
activity error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import httpx

# Channel -> environment variable naming the provider's webhook.
WEBHOOK_ENV = {
    "sms": "SMS_WEBHOOK_URL",
    "email": "EMAIL_WEBHOOK_URL",
    "letter": "LETTER_WEBHOOK_URL",
}
DEFAULT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class OutboundMessage:
    """`idempotency_key` is the contact attempt id: the provider drops a repeat of it."""

    idempotency_key: str
    channel: str
    to: str
    body: str


@dataclass(frozen=True)
class Delivery:
    """`via` is "outbox" when no provider is configured: the outbox row is the delivery."""

    via: str
    provider_ref: str | None = None


class DeliveryRejected(Exception):
    """The provider refused the message for good (4xx): sending it again cannot help."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(f"provider rejected the message with HTTP {status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


class DeliveryUnavailable(Exception):
    """The provider could not be reached or failed (5xx): a later attempt may succeed."""


class Notifier(Protocol):
    def deliver(self, message: OutboundMessage) -> Delivery: ...


class WebhookNotifier:
    """POSTs each message as JSON to the webhook of its channel; channels without one use the
    outbox only."""

    def __init__(
        self,
        endpoints: Mapping[str, str],
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        client: httpx.Client | None = None,
    ) -> None:
        self.endpoints = dict(endpoints)
        self._client = client or httpx.Client(timeout=timeout_seconds)

    @classmethod
    def from_env(cls) -> WebhookNotifier:
        endpoints = {
            channel: url for channel, env in WEBHOOK_ENV.items() if (url := os.environ.get(env))
        }
        timeout = float(os.environ.get("NOTIFY_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS))
        return cls(endpoints, timeout_seconds=timeout)

    def deliver(self, message: OutboundMessage) -> Delivery:
        url = self.endpoints.get(message.channel)
        if url is None:
            return Delivery(via="outbox")
        payload = {
            "idempotency_key": message.idempotency_key,
            "to": message.to,
            "body": message.body,
            "channel": message.channel,
        }
        try:
            response = self._client.post(
                url, json=payload, headers={"Idempotency-Key": message.idempotency_key}
            )
        except httpx.HTTPError as error:
            raise DeliveryUnavailable(f"{type(error).__name__} calling the provider") from error
        if 400 <= response.status_code < 500:
            # 408 and 429 ask us to come back later; every other 4xx is final.
            if response.status_code in (408, 429):
                raise DeliveryUnavailable(f"provider answered HTTP {response.status_code}")
            raise DeliveryRejected(response.status_code, response.text[:200])
        if not response.is_success:
            raise DeliveryUnavailable(f"provider answered HTTP {response.status_code}")
        return Delivery(via="webhook", provider_ref=_provider_ref(response))

    def close(self) -> None:
        self._client.close()


def _provider_ref(response: httpx.Response) -> str | None:
    try:
        data = response.json()
    except ValueError:
        return None
    if isinstance(data, dict) and data.get("id") is not None:
        return str(data["id"])
    return None
