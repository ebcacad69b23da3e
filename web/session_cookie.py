"""The session cookie: a small dict (the session's id, the CSRF token) signed with
itsdangerous, as Starlette's SessionMiddleware does, but set only when the dict changed.

So a wrong sign-in, which changes nothing, answers without any Set-Cookie, and an ordinary
page does not resend the cookie. The cookie is HttpOnly, SameSite=Lax and, when configured,
Secure; its signature expires with the session's lifetime. What it holds is not secret (ids
are looked up server-side), only unforgeable.
"""

from __future__ import annotations

import json
from base64 import b64decode, b64encode
from binascii import Error as Base64Error
from datetime import timedelta
from typing import Any

from itsdangerous import BadSignature, TimestampSigner
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE_NAME = "desk_session"


class SessionCookieMiddleware:
    def __init__(self, app: ASGIApp, *, secret: str, lifetime: timedelta, secure: bool) -> None:
        self.app = app
        self.signer = TimestampSigner(secret)
        self.max_age = int(lifetime.total_seconds())
        self.flags = "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        initial = self._read(HTTPConnection(scope).cookies.get(COOKIE_NAME))
        scope["session"] = dict(initial)
        before = _dumped(initial)

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                session: dict[str, Any] = scope["session"]
                if _dumped(session) != before:
                    MutableHeaders(scope=message).append("Set-Cookie", self._cookie(session))
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _read(self, raw: str | None) -> dict[str, Any]:
        if not raw:
            return {}
        try:
            data = json.loads(b64decode(self.signer.unsign(raw, max_age=self.max_age)))
        except (BadSignature, Base64Error, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _cookie(self, session: dict[str, Any]) -> str:
        if not session:
            return f"{COOKIE_NAME}=; Max-Age=0{self.flags}"
        value = self.signer.sign(b64encode(_dumped(session).encode())).decode()
        return f"{COOKIE_NAME}={value}; Max-Age={self.max_age}{self.flags}"


def _dumped(session: dict[str, Any]) -> str:
    return json.dumps(session, sort_keys=True, separators=(",", ":"))
