"""The web application's settings, read from the environment like `runtime.settings`; every
default suits `make run` on one machine (loopback, plain HTTP)."""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

HOST_ENV = "WEB_HOST"
PORT_ENV = "WEB_PORT"
SESSION_SECRET_ENV = "WEB_SESSION_SECRET"
SECURE_COOKIES_ENV = "WEB_SECURE_COOKIES"
TRUSTED_PROXIES_ENV = "WEB_TRUSTED_PROXIES"
USER_HEADER_ENV = "WEB_USER_HEADER"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_USER_HEADER = "X-Forwarded-User"
# Short enough that a guessed or stolen secret of 32 bytes is out of reach, long enough that
# an operator cannot set a word by mistake.
SESSION_SECRET_MIN = 32
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})


class WebSettingsError(ValueError):
    """A setting is wrong; the message names the variable."""


@dataclass(frozen=True)
class WebSettings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    # Signs the session cookie; a process without one makes its own (sessions end on restart).
    session_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    secure_cookies: bool = False
    trusted_proxies: frozenset[str] = frozenset()
    user_header: str = DEFAULT_USER_HEADER

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> WebSettings:
        """Raises `WebSettingsError` naming the variable that is wrong.

        Off loopback the session secret is required: a secret made at start would sign every
        user out whenever the server restarts, and differ between two servers behind one proxy.
        """
        host = environ.get(HOST_ENV, "").strip() or DEFAULT_HOST
        secret = environ.get(SESSION_SECRET_ENV, "").strip()
        if not secret and not _is_loopback(host):
            raise WebSettingsError(
                f"{SESSION_SECRET_ENV} is not set: required when {HOST_ENV} is not loopback"
            )
        if secret and len(secret) < SESSION_SECRET_MIN:
            raise WebSettingsError(f"{SESSION_SECRET_ENV}: at least {SESSION_SECRET_MIN} chars")
        return cls(
            host=host,
            port=_port(environ.get(PORT_ENV, "")),
            session_secret=secret or secrets.token_urlsafe(32),
            secure_cookies=_flag(SECURE_COOKIES_ENV, environ.get(SECURE_COOKIES_ENV, "")),
            trusted_proxies=_addresses(environ.get(TRUSTED_PROXIES_ENV, "")),
            user_header=environ.get(USER_HEADER_ENV, "").strip() or DEFAULT_USER_HEADER,
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.secure_cookies else 'http'}://{host}:{self.port}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _port(text: str) -> int:
    text = text.strip() or str(DEFAULT_PORT)
    try:
        port = int(text)
    except ValueError:
        raise WebSettingsError(f"{PORT_ENV}: {text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise WebSettingsError(f"{PORT_ENV}: must be 0-65535")
    return port


def _flag(name: str, text: str) -> bool:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise WebSettingsError(f"{name}: {text!r} is neither on nor off (1/0, true/false)")


def _addresses(text: str) -> frozenset[str]:
    """Exact addresses, normalised (`::1` and `0:0::1` are one); a proxy is one machine, so a
    network range is refused rather than trusting every address in it."""
    found: set[str] = set()
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        try:
            found.add(str(ipaddress.ip_address(part)))
        except ValueError:
            raise WebSettingsError(f"{TRUSTED_PROXIES_ENV}: {part!r} is not an address") from None
    return frozenset(found)
