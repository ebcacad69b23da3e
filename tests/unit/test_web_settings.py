"""The desk's settings from the environment: defaults for `make run`, and each wrong value
refused with the variable's name."""

from __future__ import annotations

import pytest

from web.settings import WebSettings, WebSettingsError

SECRET = "s" * 40


def test_the_defaults_suit_one_machine() -> None:
    settings = WebSettings.from_env({})
    assert (settings.host, settings.port, settings.url) == (
        "127.0.0.1",
        8000,
        "http://127.0.0.1:8000",
    )
    assert not settings.secure_cookies and settings.trusted_proxies == frozenset()
    assert settings.user_header == "X-Forwarded-User" and len(settings.session_secret) >= 32
    assert SECRET not in repr(WebSettings(session_secret=SECRET))


def test_every_variable_is_read() -> None:
    settings = WebSettings.from_env(
        {
            "WEB_HOST": "0.0.0.0",
            "WEB_PORT": "9000",
            "WEB_SESSION_SECRET": SECRET,
            "WEB_SECURE_COOKIES": "on",
            "WEB_TRUSTED_PROXIES": "10.0.0.1, 0:0::1",
            "WEB_USER_HEADER": "X-Remote-User",
        }
    )
    assert settings.port == 9000 and settings.secure_cookies
    assert settings.trusted_proxies == frozenset({"10.0.0.1", "::1"})
    assert settings.session_secret == SECRET and settings.user_header == "X-Remote-User"


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"WEB_HOST": "0.0.0.0"}, "WEB_SESSION_SECRET"),
        ({"WEB_SESSION_SECRET": "short"}, "WEB_SESSION_SECRET"),
        ({"WEB_PORT": "eighty"}, "WEB_PORT"),
        ({"WEB_PORT": "70000"}, "WEB_PORT"),
        ({"WEB_SECURE_COOKIES": "maybe"}, "WEB_SECURE_COOKIES"),
        ({"WEB_TRUSTED_PROXIES": "10.0.0.0/8"}, "WEB_TRUSTED_PROXIES"),
    ],
)
def test_a_wrong_value_is_refused_by_name(environ: dict[str, str], named: str) -> None:
    with pytest.raises(WebSettingsError, match=named):
        WebSettings.from_env(environ)
