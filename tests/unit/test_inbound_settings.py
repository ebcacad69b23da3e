"""How inbound replies are read and the webhooks' settings checked: no server, no database."""

from __future__ import annotations

import pytest

from cli import main as starter
from cli.console import UsageError
from domain.opt_out import OPT_IN, OPT_OUT, reply_intent
from web.inbound_requests import InboundSettings


@pytest.mark.parametrize(
    ("body", "intent"),
    [
        ("STOP", OPT_OUT),
        ("stop", OPT_OUT),
        ("Stop!", OPT_OUT),
        ("ＳＴＯＰ", OPT_OUT),
        ("unsubscribe", OPT_OUT),
        ("StopAll", OPT_OUT),
        ("cancel", OPT_OUT),
        ("end", OPT_OUT),
        ("quit", OPT_OUT),
        ("退订", OPT_OUT),
        ("退订。", OPT_OUT),
        ("td", OPT_OUT),
        ("start", OPT_IN),
        ("UNSTOP", OPT_IN),
        ("don't stop", None),
        ("stop it", None),
        ("", None),
        ("好的", None),
    ],
)
def test_reply_intent(body: str, intent: str | None) -> None:
    assert reply_intent(body) == intent


async def test_the_webhooks_command_refuses_a_bad_port(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await starter.run(["webhooks", "--port", "99999"]) == 2
    assert "--port" in capsys.readouterr().err
    monkeypatch.setenv("WEBHOOKS_PORT", "http")
    assert await starter.run(["webhooks"]) == 2
    assert "WEBHOOKS_PORT" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"WEBHOOKS_INSECURE_DEV": "yes"}, "WEBHOOKS_INSECURE_DEV"),
        ({"WEBHOOKS_IDLE_TIMEOUT_SECONDS": "soon"}, "WEBHOOKS_IDLE_TIMEOUT_SECONDS"),
        ({"WEBHOOKS_REQUEST_TIMEOUT_SECONDS": "-1"}, "WEBHOOKS_REQUEST_TIMEOUT_SECONDS"),
        ({"WEBHOOKS_MAX_CONNECTIONS": "0"}, "WEBHOOKS_MAX_CONNECTIONS"),
    ],
)
def test_bad_webhook_settings_are_refused_naming_the_variable(
    env: dict[str, str], named: str
) -> None:
    with pytest.raises(UsageError, match=named):
        InboundSettings.from_env(env)
