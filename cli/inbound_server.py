"""The webhooks' HTTP server: bounded connections, per-request deadlines, and the handler
that hands each request to `cli.inbound.Inbound` (which parses and verifies it)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import socket
import threading
import time
from dataclasses import replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from activities.store import Store
from cli.arguments import ClientFactory, CommandSet
from cli.console import EXIT_OK
from cli.inbound import (
    DEFAULT_PORT,
    INSECURE_DEV_ENV,
    MAX_BODY_BYTES,
    PORT_ENV,
    SENDGRID_TOKEN_ENV,
    TWILIO_TOKEN_ENV,
    Answer,
    Inbound,
    InboundSettings,
    Request,
    parse_port,
    text_answer,
)
from runtime.logs import configure_logging

# The same logger as the requests' module: one name in the logs for the whole server.
log = logging.getLogger("inbound")


class InboundServer(ThreadingHTTPServer):
    """One thread per connection, at most `max_connections` at once; a connection still
    sending its request at its deadline is shut (the idle timeout alone would let a client
    that sends a byte every few seconds keep its thread)."""

    daemon_threads = True
    # Connections waiting to be accepted: a burst of callbacks is answered, not dropped.
    request_queue_size = 128
    # Seconds between checks of the deadlines (socketserver's `service_actions` runs this often).
    poll_interval = 0.25

    def __init__(self, inbound: Inbound) -> None:
        super().__init__((inbound.settings.host, inbound.settings.port), _Handler)
        self.inbound = inbound
        self._slots = threading.BoundedSemaphore(inbound.settings.max_connections)
        self._deadlines: dict[socket.socket, float] = {}
        self._deadlines_lock = threading.Lock()

    def serve_forever(self, poll_interval: float | None = None) -> None:
        super().serve_forever(self.poll_interval if poll_interval is None else poll_interval)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            log.warning(
                "refused a connection: %d served already", self.inbound.settings.max_connections
            )
            with contextlib.suppress(OSError):
                request.sendall(_BUSY_ANSWER)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.request_read(request)
            self._slots.release()

    def request_began(self, connection: socket.socket) -> None:
        deadline = time.monotonic() + self.inbound.settings.request_timeout_seconds
        with self._deadlines_lock:
            self._deadlines[connection] = deadline

    def request_read(self, connection: socket.socket) -> None:
        with self._deadlines_lock:
            self._deadlines.pop(connection, None)

    def service_actions(self) -> None:
        now = time.monotonic()
        with self._deadlines_lock:
            late = [c for c, deadline in self._deadlines.items() if deadline <= now]
            for connection in late:
                del self._deadlines[connection]
        for connection in late:
            log.info(
                "closed a connection still sending its request after %.0f s",
                self.inbound.settings.request_timeout_seconds,
            )
            # The handler's read returns at once; its thread ends.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


_BUSY_ANSWER = (
    b"HTTP/1.0 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Type: text/plain; "
    b"charset=utf-8\r\nContent-Length: 28\r\nConnection: close\r\n\r\n"
    b"busy: too many connections\r\n"
)


class _Handler(BaseHTTPRequestHandler):
    server: InboundServer

    def setup(self) -> None:
        super().setup()
        # Every read and write waits at most this long: a stalled client is let go.
        self.connection.settimeout(self.server.inbound.settings.idle_timeout_seconds)
        self.server.request_began(self.connection)

    def do_GET(self) -> None:
        self.server.request_read(self.connection)
        self._answer("GET", b"")

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._send(text_answer(HTTPStatus.LENGTH_REQUIRED, "Content-Length: is required"))
            return
        if int(length) > MAX_BODY_BYTES:
            self._send(
                text_answer(
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                    f"body: at most {MAX_BODY_BYTES} bytes, not {int(length)}",
                )
            )
            return
        try:
            body = self.rfile.read(int(length))
        except TimeoutError:
            self._send(text_answer(HTTPStatus.REQUEST_TIMEOUT, "body: not received in time"))
            return
        self.server.request_read(self.connection)
        if len(body) < int(length):
            # The client closed early, or the server shut the connection at its deadline.
            self.close_connection = True
            return
        self._answer("POST", body)

    def _answer(self, method: str, body: bytes) -> None:
        inbound = self.server.inbound
        parts = urlsplit(self.path)
        request = Request(
            method=method,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            target=self.path,
        )
        try:
            answer = inbound.handle(request)
        except Exception:
            # The provider retries a 5xx, so nothing it sent is lost while the database is down.
            log.exception("inbound webhook failed: %s", parts.path)
            answer = text_answer(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")
        self._send(answer)

    def _send(self, answer: Answer) -> None:
        self.close_connection = True
        try:
            self.send_response(answer.status)
            if answer.status != HTTPStatus.NO_CONTENT:
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if answer.body:
                self.wfile.write(answer.body)
        except OSError:
            # The caller went away (or the deadline shut the connection): nothing to tell it.
            pass

    def log_message(self, format: str, *args: Any) -> None:
        # The default writes the client address and request line to stderr for every request;
        # the routes log what matters.
        pass


def make_server(store: Store, settings: InboundSettings) -> InboundServer:
    return InboundServer(Inbound(store, settings))


def serve(settings: InboundSettings) -> None:
    """Run the webhooks until the process is stopped, logging as the worker does."""
    settings.check()
    configure_logging()
    store = Store.from_env()
    store.require_current_schema()
    server = make_server(store, settings)
    for name, value in (
        (TWILIO_TOKEN_ENV, settings.twilio_auth_token),
        (SENDGRID_TOKEN_ENV, settings.sendgrid_token),
    ):
        if value is None:
            log.warning(
                "INSECURE: %s=1 and %s is not set: its requests are accepted UNVERIFIED; "
                "anyone who can reach this port can opt borrowers out. Never in production.",
                INSECURE_DEV_ENV,
                name,
            )
    log.info("webhooks listening on %s:%d", settings.host, server.server_address[1])
    try:
        server.serve_forever()
    finally:
        server.server_close()
        store.dispose()


async def cmd_webhooks(args: argparse.Namespace, connect: ClientFactory) -> int:
    settings = InboundSettings.from_env()
    if args.port is not None:
        settings = replace(settings, port=parse_port(args.port, "--port"))
    if args.host is not None:
        settings = replace(settings, host=args.host)
    await asyncio.to_thread(serve, settings)
    return EXIT_OK


def register(commands: CommandSet) -> None:
    p = commands.add(
        "webhooks",
        cmd_webhooks,
        "Serve the inbound webhooks: delivery receipts and STOP replies (Twilio, SendGrid).",
    )
    p.add_argument("--port", help=f"default: {PORT_ENV} or {DEFAULT_PORT}")
    p.add_argument("--host", help="address to listen on; default: WEBHOOKS_HOST or 127.0.0.1")
