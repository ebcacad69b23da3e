"""The inbound webhooks (`python starter.py webhooks`): what providers and borrowers send back.

    POST /twilio/status    Twilio status callbacks (form: MessageSid, MessageStatus, ErrorCode)
    POST /twilio/inbound   Twilio incoming messages (form: From, Body): STOP / START replies
    POST /sendgrid/events  SendGrid Event Webhook (JSON array of events)
    GET  /healthz          200 while the server runs

Receipts update the contact attempt's `delivery_status` (`activities.receipts`); a permanent
failure and an opt-out reply change the borrower's channel (`activities.borrower_channels`).
Twilio's requests are verified by their `X-Twilio-Signature` when `TWILIO_AUTH_TOKEN` is set,
SendGrid's by a `token` query parameter when `SENDGRID_WEBHOOK_TOKEN` is set; a request that
fails the check gets 403 and changes nothing. Every route is idempotent, as providers retry.
Logs carry attempt ids and counts, never phone numbers or addresses.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

from activities.borrower_channels import borrowers_with_phone, opt_out, undo_opt_out
from activities.providers.base import INBOUND_REPLY, Receipt
from activities.providers.sendgrid import event_receipt
from activities.providers.twilio import SIGNATURE_HEADER, signature_is_valid, status_receipt
from activities.receipts import UNKNOWN, apply_receipt
from activities.store import Store
from cli.console import UsageError
from domain.opt_out import OPT_OUT, reply_intent

log = logging.getLogger("inbound")

PORT_ENV = "WEBHOOKS_PORT"
HOST_ENV = "WEBHOOKS_HOST"
PUBLIC_URL_ENV = "WEBHOOKS_PUBLIC_URL"
SENDGRID_TOKEN_ENV = "SENDGRID_WEBHOOK_TOKEN"
TWILIO_TOKEN_ENV = "TWILIO_AUTH_TOKEN"
DEFAULT_PORT = 8082
DEFAULT_HOST = "127.0.0.1"
# SendGrid batches events into posts well below this.
MAX_BODY_BYTES = 5 * 1024 * 1024

TWILIO_STATUS_PATH = "/twilio/status"
TWILIO_INBOUND_PATH = "/twilio/inbound"
SENDGRID_EVENTS_PATH = "/sendgrid/events"
HEALTH_PATH = "/healthz"
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@dataclass(frozen=True)
class InboundSettings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    twilio_auth_token: str | None = None
    # The address providers call (behind a proxy): Twilio signs the URL it requested.
    public_url: str | None = None
    sendgrid_token: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> InboundSettings:
        env = os.environ if environ is None else environ
        return cls(
            host=env.get(HOST_ENV) or DEFAULT_HOST,
            port=parse_port(env.get(PORT_ENV) or str(DEFAULT_PORT), PORT_ENV),
            twilio_auth_token=env.get(TWILIO_TOKEN_ENV) or None,
            public_url=(env.get(PUBLIC_URL_ENV) or "").rstrip("/") or None,
            sendgrid_token=env.get(SENDGRID_TOKEN_ENV) or None,
        )


def parse_port(text: str, name: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UsageError(f"{name}: must be a port number from 1 to 65535, not {text!r}")
    return int(text)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    # Names in lower case.
    headers: Mapping[str, str]
    body: bytes
    # The URL the caller requested, as Twilio signs it.
    url: str


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"


def _text(status: HTTPStatus, message: str) -> Answer:
    return Answer(status, message.encode())


class Inbound:
    """What each route does, on a store; the HTTP handler below only reads and answers."""

    def __init__(self, store: Store, settings: InboundSettings) -> None:
        self.store = store
        self.settings = settings

    def handle(self, request: Request) -> Answer:
        if request.method == "GET" and request.path == HEALTH_PATH:
            return _text(HTTPStatus.OK, "ok")
        routes = {
            TWILIO_STATUS_PATH: self.twilio_status,
            TWILIO_INBOUND_PATH: self.twilio_reply,
            SENDGRID_EVENTS_PATH: self.sendgrid_events,
        }
        route = routes.get(request.path)
        if route is None:
            return _text(HTTPStatus.NOT_FOUND, f"no route {request.path}")
        if request.method != "POST":
            return _text(HTTPStatus.METHOD_NOT_ALLOWED, "POST only")
        try:
            return route(request)
        except ValueError as error:  # the parsers name the bad field
            return _text(HTTPStatus.BAD_REQUEST, str(error))

    # -- Twilio ------------------------------------------------------------------------------

    def twilio_status(self, request: Request) -> Answer:
        params, refused = self._twilio_form(request)
        if refused is not None:
            return refused
        receipt = status_receipt(params)
        if receipt is not None:
            self._apply(receipt)
        return Answer(HTTPStatus.NO_CONTENT)

    def twilio_reply(self, request: Request) -> Answer:
        params, refused = self._twilio_form(request)
        if refused is not None:
            return refused
        phone = params.get("From", "").strip()
        if not phone:
            raise ValueError("From: is required")
        intent = reply_intent(params.get("Body", ""))
        if intent is not None:
            # One person may borrow under several ids: the reply speaks for all of them.
            borrowers = borrowers_with_phone(self.store, phone)
            for borrower_id in borrowers:
                if intent == OPT_OUT:
                    opt_out(
                        self.store,
                        borrower_id,
                        "sms",
                        source=INBOUND_REPLY,
                        reason=f"SMS reply {params.get('MessageSid', '')}".strip(),
                    )
                else:
                    undo_opt_out(self.store, borrower_id, "sms")
            log.info("sms reply %s: %d borrower(s) with that number", intent, len(borrowers))
        return Answer(HTTPStatus.OK, EMPTY_TWIML, "text/xml")

    def _twilio_form(self, request: Request) -> tuple[dict[str, str], Answer | None]:
        pairs = parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        token = self.settings.twilio_auth_token
        if token is not None:
            header = request.headers.get(SIGNATURE_HEADER.lower(), "")
            if not header or not signature_is_valid(token, request.url, pairs, header):
                log.warning("refused a Twilio request with a bad signature: %s", request.path)
                return {}, _text(HTTPStatus.FORBIDDEN, f"{SIGNATURE_HEADER}: invalid")
        return dict(pairs), None

    # -- SendGrid ----------------------------------------------------------------------------

    def sendgrid_events(self, request: Request) -> Answer:
        token = self.settings.sendgrid_token
        if token is not None:
            given = (request.query.get("token") or [""])[0]
            if not hmac.compare_digest(given.encode(), token.encode()):
                log.warning("refused a SendGrid request without the right token")
                return _text(HTTPStatus.FORBIDDEN, "token: invalid")
        try:
            events: Any = json.loads(request.body)
        except ValueError:
            raise ValueError("body: must be a JSON array of events") from None
        if not isinstance(events, list):
            raise ValueError("body: must be a JSON array of events")
        # Every event is checked before any is applied, so a bad batch changes nothing.
        receipts = [event_receipt(event, index) for index, event in enumerate(events)]
        for receipt in receipts:
            if receipt is not None:
                self._apply(receipt)
        return Answer(HTTPStatus.OK)

    def _apply(self, receipt: Receipt) -> None:
        outcome = apply_receipt(self.store, receipt)
        if outcome == UNKNOWN:
            # Not ours (another system's message on the same account), or sent before
            # provider references were kept: acknowledged, so the provider stops retrying.
            log.info("%s receipt for an unknown message", receipt.channel)
        else:
            log.info(
                "%s receipt %s: %s%s",
                receipt.channel,
                receipt.status or "-",
                outcome,
                f", channel {receipt.channel_state}" if receipt.channel_state else "",
            )


class InboundServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, inbound: Inbound) -> None:
        super().__init__((inbound.settings.host, inbound.settings.port), _Handler)
        self.inbound = inbound


class _Handler(BaseHTTPRequestHandler):
    server: InboundServer

    def do_GET(self) -> None:
        self._answer("GET", b"")

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._send(_text(HTTPStatus.LENGTH_REQUIRED, "Content-Length: is required"))
            return
        if int(length) > MAX_BODY_BYTES:
            self._send(_text(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body: too large"))
            return
        self._answer("POST", self.rfile.read(int(length)))

    def _answer(self, method: str, body: bytes) -> None:
        inbound = self.server.inbound
        parts = urlsplit(self.path)
        base = inbound.settings.public_url or f"http://{self.headers.get('Host', '')}"
        request = Request(
            method=method,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            url=base + self.path,
        )
        try:
            answer = inbound.handle(request)
        except Exception:
            # The provider retries a 5xx, so nothing it sent is lost while the database is down.
            log.exception("inbound webhook failed: %s", parts.path)
            answer = _text(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")
        self._send(answer)

    def _send(self, answer: Answer) -> None:
        self.send_response(answer.status)
        if answer.status != HTTPStatus.NO_CONTENT:
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if answer.body:
            self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:
        # The default writes the client address and request line to stderr for every request;
        # the routes log what matters.
        pass


def make_server(store: Store, settings: InboundSettings) -> InboundServer:
    return InboundServer(Inbound(store, settings))


def serve(settings: InboundSettings) -> None:
    """Run the webhooks until the process is stopped, logging as the worker does."""
    # Imported here: the worker module brings the whole worker, which only this command of
    # the starter needs, and only for its log set-up.
    from worker import configure_logging

    configure_logging()
    store = Store.from_env()
    store.require_current_schema()
    server = make_server(store, settings)
    if settings.twilio_auth_token is None:
        log.warning("%s is not set: Twilio requests are accepted unverified", TWILIO_TOKEN_ENV)
    if settings.sendgrid_token is None:
        log.warning("%s is not set: SendGrid events are accepted unverified", SENDGRID_TOKEN_ENV)
    log.info("webhooks listening on %s:%d", settings.host, server.server_address[1])
    try:
        server.serve_forever()
    finally:
        server.server_close()
        store.dispose()
