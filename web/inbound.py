"""The webhooks as an ASGI router, and the connection limits uvicorn serves them under.

The router reads each request (length, size, a body that stops arriving) and hands it to
`web.inbound_requests.Inbound`, which parses and verifies it. `connection_protocol` bounds
what a caller can hold below the router, where the application never sees a connection:
at most `max_connections` at once (one more is answered 503 at once), a connection idle
before its request line and headers are in is closed, and so is one still sending its
request at its deadline (the idle timeout alone would let a client that sends a byte every
few seconds keep its connection). Every answer closes its connection, so each deadline
covers exactly one request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import h11
from fastapi import APIRouter, FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from uvicorn.protocols.http.h11_impl import H11Protocol

from activities.store import Store
from runtime.serving import Served, serve_in_thread
from web import inbound_requests
from web.inbound_requests import (
    HEALTH_PATH,
    MAX_BODY_BYTES,
    SENDGRID_EVENTS_PATH,
    TWILIO_INBOUND_PATH,
    TWILIO_STATUS_PATH,
    Answer,
    Inbound,
    InboundSettings,
    text_answer,
)

# The same logger as the requests' module: one name in the logs for the whole server.
log = logging.getLogger("inbound")

_BUSY_ANSWER = (
    b"HTTP/1.0 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Type: text/plain; "
    b"charset=utf-8\r\nContent-Length: 28\r\nConnection: close\r\n\r\n"
    b"busy: too many connections\r\n"
)


def router(inbound: Inbound, *, health: bool = True) -> APIRouter:
    """The webhooks' routes. GET and POST on each: `Inbound` answers a wrong method itself.
    Without `health`, no `/healthz`: an application that has its own (the desk) keeps it."""
    routes = APIRouter()

    async def webhook(request: Request) -> Response:
        return await _answer(inbound, request)

    paths = (TWILIO_STATUS_PATH, TWILIO_INBOUND_PATH, SENDGRID_EVENTS_PATH)
    for path in (HEALTH_PATH, *paths) if health else paths:
        routes.add_api_route(path, webhook, methods=["GET", "POST"], include_in_schema=False)
    return routes


def application(inbound: Inbound) -> FastAPI:
    """The webhooks' whole application: the router, and a plain-text 404 elsewhere."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(router(inbound))

    async def not_found(request: Request, _: Exception) -> Response:
        path = urlsplit(_target(request)).path
        return _response(text_answer(HTTPStatus.NOT_FOUND, f"no route {path}"))

    app.add_exception_handler(HTTPStatus.NOT_FOUND, not_found)
    return app


def start_in_thread(store: Store, settings: InboundSettings) -> Served:
    """The webhooks on a thread (tests); raises `UsageError` for settings `check` refuses."""
    inbound = Inbound(store, settings)
    return serve_in_thread(
        application(inbound),
        settings.host,
        settings.port,
        http=connection_protocol(settings),
        name="webhooks",
    )


async def _answer(inbound: Inbound, request: Request) -> Response:
    if request.method == "GET":
        body = b""
    else:
        read = await _body(request, inbound.settings.idle_timeout_seconds)
        if read is None:
            # The client closed early, or its deadline shut the connection: no one to answer.
            return Response(status_code=HTTPStatus.BAD_REQUEST)
        if isinstance(read, Answer):
            return _response(read)
        body = read
    target = _target(request)
    parts = urlsplit(target)
    parsed = inbound_requests.Request(
        method=request.method,
        path=parts.path,
        query=parse_qs(parts.query),
        headers=dict(request.headers.items()),
        body=body,
        target=target,
    )
    try:
        # A GET is the health check or a refusal: answered on the loop, while a POST writes
        # to the database on a worker thread.
        if request.method == "GET":
            answer = inbound.handle(parsed)
        else:
            answer = await run_in_threadpool(inbound.handle, parsed)
    except Exception:
        # The provider retries a 5xx, so nothing it sent is lost while the database is down.
        log.exception("inbound webhook failed: %s", parts.path)
        answer = text_answer(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")
    return _response(answer)


async def _body(request: Request, idle_seconds: float) -> bytes | Answer | None:
    """The body, an answer refusing it, or None when the client went away."""
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        return text_answer(HTTPStatus.LENGTH_REQUIRED, "Content-Length: is required")
    if int(length) > MAX_BODY_BYTES:
        return text_answer(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"body: at most {MAX_BODY_BYTES} bytes, not {int(length)}",
        )
    chunks: list[bytes] = []
    stream: AsyncIterator[bytes] = request.stream()
    try:
        while True:
            # Each wait for more of the body is bounded: a stalled client is let go.
            chunks.append(await asyncio.wait_for(anext(stream), idle_seconds))
    except StopAsyncIteration:
        return b"".join(chunks)
    except TimeoutError:
        return text_answer(HTTPStatus.REQUEST_TIMEOUT, "body: not received in time")
    except ClientDisconnect:
        return None


def _target(request: Request) -> str:
    """The path and query as requested (Twilio signs the public URL followed by them)."""
    raw_path: bytes = request.scope.get("raw_path") or request.scope["path"].encode()
    query: bytes = request.scope.get("query_string", b"")
    return (raw_path + (b"?" + query if query else b"")).decode("latin-1")


def _response(answer: Answer) -> Response:
    # The content type exactly as `Inbound` chose it (Starlette would add a charset to
    # text/xml); every answer closes its connection (see the module's docstring).
    headers = {"Connection": "close"}
    if answer.status != HTTPStatus.NO_CONTENT:
        headers["Content-Type"] = answer.content_type
    return Response(answer.body, status_code=answer.status, headers=headers)


def connection_protocol(settings: InboundSettings) -> type[H11Protocol]:
    """uvicorn's HTTP/1.1 protocol with the webhooks' limits; one class per server, since the
    count of connections is the server's."""
    slots = [settings.max_connections]

    class BoundedH11Protocol(H11Protocol):
        _counted = False
        _timers: tuple[asyncio.TimerHandle, ...] = ()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            if slots[0] == 0:
                log.warning("refused a connection: %d served already", settings.max_connections)
                transport.write(_BUSY_ANSWER)
                transport.close()
                return
            slots[0] -= 1
            self._counted = True
            super().connection_made(transport)
            self._timers = (
                self.loop.call_later(settings.request_timeout_seconds, self._deadline),
                self.loop.call_later(settings.idle_timeout_seconds, self._idle),
            )

        def data_received(self, data: bytes) -> None:
            if self._counted and self.cycle is None:
                self._timers[1].cancel()
                idle = self.loop.call_later(settings.idle_timeout_seconds, self._idle)
                self._timers = (self._timers[0], idle)
            super().data_received(data)

        def connection_lost(self, exc: Exception | None) -> None:
            if not self._counted:
                return
            self._counted = False
            slots[0] += 1
            for timer in self._timers:
                timer.cancel()
            super().connection_lost(exc)

        def _idle(self) -> None:
            # Before the headers are in; once they are, the router bounds each wait for the
            # body and answers 408.
            if self.cycle is None and not self.transport.is_closing():
                self.transport.close()

        def _deadline(self) -> None:
            if self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
                log.info(
                    "closed a connection still sending its request after %.0f s",
                    settings.request_timeout_seconds,
                )
                self.transport.close()

    return BoundedH11Protocol
