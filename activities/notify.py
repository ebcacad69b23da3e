"""Delivery of SMS, email and letters: which provider each channel uses, chosen by the
environment (see the README's "Notification providers").

A channel without a provider goes to the outbox only: the outbox row (and the log line) is the
delivery. The providers themselves live in `activities.providers`; this module routes a message
to its channel's provider and reads the configuration, refusing a partial one at worker start
with the name of the missing variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime

import httpx

from activities.providers.base import (
    DEFAULT_TIMEOUT_SECONDS,
    Delivery,
    DeliveryRejected,
    DeliveryUnavailable,
    Notifier,
    OutboundMessage,
    Outbox,
)
from activities.providers.sendgrid import DEFAULT_API_BASE as SENDGRID_API_BASE
from activities.providers.sendgrid import DEFAULT_SUBJECT, SendGridEmail
from activities.providers.twilio import DEFAULT_API_BASE as TWILIO_API_BASE
from activities.providers.twilio import TwilioSms
from activities.providers.webhook import SignedWebhook
from domain.channels import NOTICE_CHANNELS

__all__ = [
    "ChannelNotifier",
    "Delivery",
    "DeliveryRejected",
    "DeliveryUnavailable",
    "Notifier",
    "OutboundMessage",
    "ProviderConfigError",
    "WebhookNotifier",
    "notifier_from_env",
]

# Channel -> the providers it may use; the first is the default when nothing is configured.
PROVIDERS_OF_CHANNEL = {
    "sms": ("outbox", "webhook", "twilio"),
    "email": ("outbox", "webhook", "sendgrid"),
    "letter": ("outbox", "webhook"),
}
WEBHOOK_ENV = {
    "sms": "SMS_WEBHOOK_URL",
    "email": "EMAIL_WEBHOOK_URL",
    "letter": "LETTER_WEBHOOK_URL",
}
PROVIDER_ENV = {channel: f"{channel.upper()}_PROVIDER" for channel in NOTICE_CHANNELS}
WEBHOOK_SECRET_ENV = "NOTIFY_WEBHOOK_SECRET"
TIMEOUT_ENV = "NOTIFY_TIMEOUT_SECONDS"
# The variables that choose a vendor for its channel when set (not TWILIO_AUTH_TOKEN: the
# webhooks server alone uses it too, to check Twilio's signatures).
VENDOR_ENV = {
    "twilio": ("TWILIO_ACCOUNT_SID", "TWILIO_FROM_NUMBER", "TWILIO_MESSAGING_SERVICE_SID"),
    "sendgrid": ("SENDGRID_API_KEY", "SENDGRID_FROM_EMAIL"),
}


class ProviderConfigError(ValueError):
    """The environment configures a provider only in part; the message names the variable."""


class ChannelNotifier:
    """Sends each message through its channel's provider; a channel without one, to the outbox
    only. Owns the HTTP client its providers share."""

    def __init__(
        self, providers: Mapping[str, Notifier], *, client: httpx.Client | None = None
    ) -> None:
        self.providers = dict(providers)
        self._client = client
        self._outbox = Outbox()

    def deliver(self, message: OutboundMessage) -> Delivery:
        return self.providers.get(message.channel, self._outbox).deliver(message)

    def find_sent(self, message: OutboundMessage, *, since: datetime) -> Delivery | None:
        return self.providers.get(message.channel, self._outbox).find_sent(message, since=since)

    def describe(self) -> str:
        """Which provider each channel uses, e.g. for a start-up log line (no secrets)."""
        return " ".join(
            f"{channel}={getattr(self.providers.get(channel), 'name', 'outbox')}"
            for channel in NOTICE_CHANNELS
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


class WebhookNotifier(ChannelNotifier):
    """Every channel in `endpoints` to its JSON webhook (signed when `secret` is given), the
    rest to the outbox: the short way to build a notifier by hand, as tests do."""

    def __init__(
        self,
        endpoints: Mapping[str, str],
        *,
        secret: str | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        client: httpx.Client | None = None,
    ) -> None:
        client = client or httpx.Client(timeout=timeout_seconds)
        webhooks = {
            channel: SignedWebhook(url, secret=secret, client=client)
            for channel, url in endpoints.items()
        }
        super().__init__(webhooks, client=client)
        self.endpoints = dict(endpoints)


def notifier_from_env(environ: Mapping[str, str] | None = None) -> ChannelNotifier:
    """The providers the environment configures; raises `ProviderConfigError` naming the first
    missing or invalid variable, so a worker never starts half-configured."""
    env = _Env(os.environ if environ is None else environ)
    timeout = env.positive_number(TIMEOUT_ENV, DEFAULT_TIMEOUT_SECONDS)
    choices = {channel: _provider_of(env, channel) for channel in NOTICE_CHANNELS}
    client = httpx.Client(timeout=timeout)
    providers: dict[str, Notifier] = {}
    try:
        for channel, choice in choices.items():
            if choice != "outbox":
                providers[channel] = _build(env, channel, choice, client)
    except ProviderConfigError:
        client.close()
        raise
    return ChannelNotifier(providers, client=client)


def _provider_of(env: _Env, channel: str) -> str:
    allowed = PROVIDERS_OF_CHANNEL[channel]
    variable = PROVIDER_ENV[channel]
    explicit = env.get(variable)
    if explicit is not None:
        if explicit not in allowed:
            raise ProviderConfigError(
                f"{variable}: must be one of {', '.join(allowed)}, not {explicit!r}"
            )
        return explicit
    # Unset: whatever the other variables configure for this channel, so that setting a
    # vendor's credentials never leaves its messages quietly in the outbox.
    configured = [
        vendor
        for vendor in allowed
        if vendor in VENDOR_ENV and any(env.get(name) for name in VENDOR_ENV[vendor])
    ]
    if env.get(WEBHOOK_ENV[channel]):
        configured.append("webhook")
    if len(configured) > 1:
        raise ProviderConfigError(
            f"{variable}: set it to one of {', '.join(configured)} (both are configured)"
        )
    return configured[0] if configured else "outbox"


def _build(env: _Env, channel: str, choice: str, client: httpx.Client) -> Notifier:
    needed_by = f"{PROVIDER_ENV[channel]}={choice}"
    if choice == "webhook":
        return SignedWebhook(
            env.url(WEBHOOK_ENV[channel], needed_by),
            secret=env.required(WEBHOOK_SECRET_ENV, needed_by),
            client=client,
        )
    if choice == "twilio":
        account_sid = env.required("TWILIO_ACCOUNT_SID", needed_by)
        auth_token = env.required("TWILIO_AUTH_TOKEN", needed_by)
        senders = ("TWILIO_FROM_NUMBER", "TWILIO_MESSAGING_SERVICE_SID")
        sender = [name for name in senders if env.get(name)]
        if len(sender) != 1:
            raise ProviderConfigError(
                f"{needed_by} needs exactly one of TWILIO_FROM_NUMBER and "
                f"TWILIO_MESSAGING_SERVICE_SID ({'both are' if sender else 'neither is'} set)"
            )
        callback = env.get("TWILIO_STATUS_CALLBACK_URL")
        return TwilioSms(
            account_sid=account_sid,
            auth_token=auth_token,
            from_number=env.get("TWILIO_FROM_NUMBER"),
            messaging_service_sid=env.get("TWILIO_MESSAGING_SERVICE_SID"),
            status_callback=env.url("TWILIO_STATUS_CALLBACK_URL", needed_by) if callback else None,
            api_base=env.url("TWILIO_API_BASE", needed_by, TWILIO_API_BASE),
            client=client,
        )
    assert choice == "sendgrid", choice
    return SendGridEmail(
        api_key=env.required("SENDGRID_API_KEY", needed_by),
        from_email=env.required("SENDGRID_FROM_EMAIL", needed_by),
        from_name=env.get("SENDGRID_FROM_NAME"),
        subject=env.get("SENDGRID_SUBJECT") or DEFAULT_SUBJECT,
        api_base=env.url("SENDGRID_API_BASE", needed_by, SENDGRID_API_BASE),
        client=client,
    )


class _Env:
    """Reads variables, treating empty as unset, and names the variable in every error."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def get(self, name: str) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or None

    def required(self, name: str, needed_by: str) -> str:
        value = self.get(name)
        if value is None:
            raise ProviderConfigError(f"{needed_by} needs {name}, which is not set")
        return value

    def url(self, name: str, needed_by: str, default: str | None = None) -> str:
        value = self.get(name) or default
        if value is None:
            return self.required(name, needed_by)
        if not value.startswith(("http://", "https://")):
            raise ProviderConfigError(f"{name}: must be an http:// or https:// URL")
        return value

    def positive_number(self, name: str, default: float) -> float:
        value = self.get(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise ProviderConfigError(f"{name}: must be a number of seconds") from None
        if not 0 < number < float("inf"):
            raise ProviderConfigError(f"{name}: must be greater than 0")
        return number
