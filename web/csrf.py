"""Cross-site request forgery: every POST, PUT, PATCH and DELETE must carry this session's
token, in the form field `csrf_token` or the header `X-CSRF-Token` (htmx requests); one without
it is answered 403 before any route runs, so nothing changes.

The token is random, kept in the signed session cookie (which a page of another site can
neither read nor forge), and made on the first page that shows a form, before sign-in too, so
the sign-in form is covered. Paths under `exempt` (the webhooks, which verify their senders'
signatures) are not checked.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable
from typing import Any

from markupsafe import Markup, escape
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_KEY = "csrf"
FIELD_NAME = "csrf_token"
HEADER_NAME = "x-csrf-token"
CHECKED_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# No desk form comes near it; a body this large is refused before it is held in memory.
MAX_BODY_BYTES = 1024 * 1024


def csrf_token(session: dict[str, Any]) -> str:
    """This session's token, made on first use."""
    token = session.get(TOKEN_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[TOKEN_KEY] = token
    return token


def csrf_field(request: Request) -> Markup:
    """The hidden input every form carries: `{{ csrf_field(request) }}` in a template."""
    token = escape(csrf_token(request.session))
    return Markup(f'<input type="hidden" name="{FIELD_NAME}" value="{token}">')


def renew_token(session: dict[str, Any]) -> None:
    """A new token at sign-in and sign-out, so one seen before cannot be replayed after."""
    session[TOKEN_KEY] = secrets.token_urlsafe(32)


class CSRFMiddleware:
    """Sits inside SessionMiddleware (it reads `scope["session"]`)."""

    def __init__(self, app: ASGIApp, exempt: Iterable[str] = ()) -> None:
        self.app = app
        self.exempt = tuple(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in CHECKED_METHODS
            or scope["path"].startswith(self.exempt)
        ):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:
            await PlainTextResponse("request body too large", 413)(scope, receive, send)
            return
        if not await _token_matches(scope, body):
            await PlainTextResponse("missing or wrong CSRF token: reload the page", 403)(
                scope, receive, send
            )
            return
        await self.app(scope, _replay(body, receive), send)


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body again, for the route; later messages (a disconnect) from the client."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


async def _token_matches(scope: Scope, body: bytes) -> bool:
    expected = scope.get("session", {}).get(TOKEN_KEY)
    if not isinstance(expected, str) or not expected:
        return False
    request = Request(scope, _replay(body, _no_more))
    given = request.headers.get(HEADER_NAME)
    if given is None:
        form = await _form(request)
        given = _field(form)
        if form is not None:
            await form.close()  # a multipart upload's spooled files; the route reads its own
    return hmac.compare_digest(given.encode(), expected.encode())


async def _form(request: Request) -> FormData | None:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return None
    try:
        return await request.form()
    except Exception:  # a malformed body carries no token either
        return None


def _field(form: FormData | None) -> str:
    value = form.get(FIELD_NAME) if form is not None else None
    return value if isinstance(value, str) else ""


async def _no_more() -> Message:
    return {"type": "http.disconnect"}
