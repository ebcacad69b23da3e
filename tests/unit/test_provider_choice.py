"""Which vendor serves each channel, from the environment, and how a vendor's Retry-After is read:
no server, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from activities.notify import (
    ProviderConfigError,
    notifier_from_env,
)
from activities.providers.base import retry_after
from tests.helpers.providers import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    SECRET,
    SENDGRID_KEY,
    message,
)

TWILIO_ENV = {
    "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
    "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    "TWILIO_FROM_NUMBER": "+15005550006",
}


SENDGRID_ENV = {"SENDGRID_API_KEY": SENDGRID_KEY, "SENDGRID_FROM_EMAIL": "c@lender.example"}


def test_retry_after_is_read_as_seconds_or_as_an_http_date() -> None:
    now = datetime(2026, 11, 5, 8, 0, tzinfo=UTC)
    at = format_datetime(now + timedelta(seconds=90), usegmt=True)

    def answer(value: str) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": value})

    assert retry_after(answer("7"), now=now) == timedelta(seconds=7)
    assert retry_after(answer(at), now=now) == timedelta(seconds=90)
    assert retry_after(answer("Mon, 01 Jan 2001 00:00:00 GMT"), now=now) == timedelta(0)
    assert retry_after(answer("soon"), now=now) is None
    assert retry_after(httpx.Response(503), now=now) is None


def test_no_configuration_sends_every_channel_to_the_outbox() -> None:
    notifier = notifier_from_env({})
    assert notifier.describe() == "sms=outbox email=outbox letter=outbox"
    assert notifier.deliver(message()).via == "outbox"
    notifier.close()


def test_configured_vendors_are_chosen_per_channel() -> None:
    env = {
        **TWILIO_ENV,
        **SENDGRID_ENV,
        "LETTER_WEBHOOK_URL": "https://letters.example/send",
        "NOTIFY_WEBHOOK_SECRET": SECRET,
    }
    notifier = notifier_from_env(env)
    assert notifier.describe() == "sms=twilio email=sendgrid letter=webhook"
    notifier.close()
    explicit = notifier_from_env({**env, "SMS_PROVIDER": "outbox"})
    assert explicit.describe() == "sms=outbox email=sendgrid letter=webhook"
    explicit.close()


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SMS_PROVIDER": "twilio", **TWILIO_ENV, "TWILIO_AUTH_TOKEN": ""}, "TWILIO_AUTH_TOKEN"),
        ({"TWILIO_ACCOUNT_SID": ACCOUNT_SID}, "TWILIO_AUTH_TOKEN"),
        (
            {**TWILIO_ENV, "TWILIO_FROM_NUMBER": ""},
            "TWILIO_FROM_NUMBER and TWILIO_MESSAGING_SERVICE_SID",
        ),
        (
            {**TWILIO_ENV, "TWILIO_MESSAGING_SERVICE_SID": "MG1"},
            "TWILIO_FROM_NUMBER and TWILIO_MESSAGING_SERVICE_SID",
        ),
        ({"SENDGRID_API_KEY": SENDGRID_KEY}, "SENDGRID_FROM_EMAIL"),
        ({"EMAIL_WEBHOOK_URL": "https://mail.example/send"}, "NOTIFY_WEBHOOK_SECRET"),
        ({"SMS_PROVIDER": "webhook", "NOTIFY_WEBHOOK_SECRET": SECRET}, "SMS_WEBHOOK_URL"),
        ({"EMAIL_PROVIDER": "twilio"}, "EMAIL_PROVIDER"),
        ({**TWILIO_ENV, "SMS_WEBHOOK_URL": "https://sms.example/send"}, "SMS_PROVIDER"),
        ({**TWILIO_ENV, "TWILIO_API_BASE": "api.twilio.com"}, "TWILIO_API_BASE"),
        ({"NOTIFY_TIMEOUT_SECONDS": "0"}, "NOTIFY_TIMEOUT_SECONDS"),
    ],
)
def test_a_partial_configuration_is_refused_naming_the_variable(
    env: dict[str, str], named: str
) -> None:
    with pytest.raises(ProviderConfigError, match=named):
        notifier_from_env(env)


def test_the_auth_token_alone_does_not_choose_twilio() -> None:
    # The webhooks server checks Twilio's signatures with it; SMS may still use the outbox.
    notifier = notifier_from_env({"TWILIO_AUTH_TOKEN": AUTH_TOKEN})
    assert notifier.describe() == "sms=outbox email=outbox letter=outbox"
    notifier.close()
