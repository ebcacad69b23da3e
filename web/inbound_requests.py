"""The inbound webhooks (`python starter.py webhooks`): what providers and borrowers send back.

    POST /twilio/status    Twilio status callbacks (form: MessageSid, MessageStatus, ErrorCode)
    POST /twilio/inbound   Twilio incoming messages (form: From, Body): STOP / START replies
    POST /sendgrid/events  SendGrid Event Webhook (JSON array of events)
    GET  /healthz          200 while the server runs

Receipts update the contact attempt's `delivery_status` (`activities.receipts`); a permanent
failure and an opt-out reply change the borrower's channel at that address
(`activities.borrower_channels`). Each message is applied once, by the provider's id, and
opt-outs and opt-ins in order (`activities.inbound_messages`).

Every request is verified: Twilio's by their `X-Twilio-Signature` (`TWILIO_AUTH_TOKEN`) over
the URL Twilio requested, which is `WEBHOOKS_PUBLIC_URL` and the path (configuration only: the
`Host` header is the caller's to choose); SendGrid's by a `token` query parameter
(`SENDGRID_WEBHOOK_TOKEN`). A request that fails the check gets 403 and changes nothing. The
server refuses to start without those settings, unless `WEBHOOKS_INSECURE_DEV=1` says this is
a developer's machine (then it warns at start and on every unverified request).

What a caller can hold: a body of at most MAX_BODY_BYTES (413) and JSON nested at most
MAX_JSON_DEPTH deep (400); a connection idle for `WEBHOOKS_IDLE_TIMEOUT_SECONDS` or still
sending its request after `WEBHOOKS_REQUEST_TIMEOUT_SECONDS` is closed; at most
`WEBHOOKS_MAX_CONNECTIONS` are served at once, and one more is answered 503 at once, so stalled
clients hold a bounded number of connections, each for seconds.
Logs carry attempt ids and counts, never phone numbers or addresses. This module reads and
verifies the requests; `web.inbound` routes them and `cli.inbound_server` serves them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from activities.inbound_messages import DUPLICATE, OUT_OF_ORDER, apply_sms_reply
from activities.providers.base import Receipt
from activities.providers.sendgrid import event_receipt
from activities.providers.twilio import SIGNATURE_HEADER, signature_is_valid, status_receipt
from activities.receipts import UNKNOWN, apply_receipt
from activities.store import Store
from domain.opt_out import reply_intent
from runtime.settings import UsageError

log = logging.getLogger("inbound")

PORT_ENV = "WEBHOOKS_PORT"
HOST_ENV = "WEBHOOKS_HOST"
PUBLIC_URL_ENV = "WEBHOOKS_PUBLIC_URL"
SENDGRID_TOKEN_ENV = "SENDGRID_WEBHOOK_TOKEN"
TWILIO_TOKEN_ENV = "TWILIO_AUTH_TOKEN"
INSECURE_DEV_ENV = "WEBHOOKS_INSECURE_DEV"
IDLE_TIMEOUT_ENV = "WEBHOOKS_IDLE_TIMEOUT_SECONDS"
REQUEST_TIMEOUT_ENV = "WEBHOOKS_REQUEST_TIMEOUT_SECONDS"
MAX_CONNECTIONS_ENV = "WEBHOOKS_MAX_CONNECTIONS"
DEFAULT_PORT = 8082
DEFAULT_HOST = "127.0.0.1"
DEFAULT_IDLE_TIMEOUT_SECONDS = 5.0
DEFAULT_REQUEST_TIMEOUT_SECONDS = 30.0
DEFAULT_MAX_CONNECTIONS = 64
# SendGrid batches events into posts well below this.
MAX_BODY_BYTES = 5 * 1024 * 1024
# SendGrid's events are an array of objects holding at most an array of categories: depth 3.
MAX_JSON_DEPTH = 16
# A Twilio request has some twenty fields.
MAX_FORM_FIELDS = 200
# Twilio's ids are 34 characters; anything far longer is not one.
MESSAGE_SID_MAX = 128

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
    # The address providers call (through any proxy): Twilio signs the URL it requested.
    public_url: str | None = None
    sendgrid_token: str | None = None
    # A developer's machine: requests without a configured secret are taken unverified.
    insecure_dev: bool = False
    idle_timeout_seconds: float = DEFAULT_IDLE_TIMEOUT_SECONDS
    request_timeout_seconds: float = DEFAULT_REQUEST_TIMEOUT_SECONDS
    max_connections: int = DEFAULT_MAX_CONNECTIONS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> InboundSettings:
        env = os.environ if environ is None else environ
        insecure = env.get(INSECURE_DEV_ENV) or ""
        if insecure not in ("", "0", "1"):
            raise UsageError(f"{INSECURE_DEV_ENV}: must be 1 (or unset), not {insecure!r}")
        return cls(
            host=env.get(HOST_ENV) or DEFAULT_HOST,
            port=parse_port(env.get(PORT_ENV) or str(DEFAULT_PORT), PORT_ENV),
            twilio_auth_token=env.get(TWILIO_TOKEN_ENV) or None,
            public_url=(env.get(PUBLIC_URL_ENV) or "").rstrip("/") or None,
            sendgrid_token=env.get(SENDGRID_TOKEN_ENV) or None,
            insecure_dev=insecure == "1",
            idle_timeout_seconds=_seconds(env, IDLE_TIMEOUT_ENV, DEFAULT_IDLE_TIMEOUT_SECONDS),
            request_timeout_seconds=_seconds(
                env, REQUEST_TIMEOUT_ENV, DEFAULT_REQUEST_TIMEOUT_SECONDS
            ),
            max_connections=_count(env, MAX_CONNECTIONS_ENV, DEFAULT_MAX_CONNECTIONS),
        )

    def check(self) -> None:
        """Refuse (`UsageError`, naming the variable) settings under which a request could
        change a borrower's channels unverified, or be checked against a URL the caller chose."""
        missing = [
            name
            for name, value in (
                (TWILIO_TOKEN_ENV, self.twilio_auth_token),
                (SENDGRID_TOKEN_ENV, self.sendgrid_token),
            )
            if value is None
        ]
        if missing and not self.insecure_dev:
            raise UsageError(
                f"{' and '.join(missing)}: required, or anyone who finds the webhooks can opt "
                f"borrowers out (set {INSECURE_DEV_ENV}=1 to accept unverified requests on a "
                "developer's machine)"
            )
        if self.twilio_auth_token is not None:
            if self.public_url is None:
                raise UsageError(
                    f"{PUBLIC_URL_ENV}: required with {TWILIO_TOKEN_ENV}: the URL Twilio calls "
                    "(e.g. https://collect.example.com/hooks), which its signature covers"
                )
            parts = urlsplit(self.public_url)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
                raise UsageError(
                    f"{PUBLIC_URL_ENV}: must be an http(s) URL without a query, "
                    f"not {self.public_url!r}"
                )
        if not self.idle_timeout_seconds > 0 or not self.request_timeout_seconds > 0:
            raise UsageError(f"{IDLE_TIMEOUT_ENV}, {REQUEST_TIMEOUT_ENV}: must be above 0")
        if self.max_connections < 1:
            raise UsageError(f"{MAX_CONNECTIONS_ENV}: must be at least 1")


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name) or ""
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 3600:
        raise UsageError(f"{name}: must be a number of seconds above 0, not {text!r}")
    return value


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name) or ""
    if not text:
        return default
    if not text.isdigit() or not 0 < int(text) <= 10_000:
        raise UsageError(f"{name}: must be a whole number from 1 to 10000, not {text!r}")
    return int(text)


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
    # The path and query as requested: Twilio signs the public URL followed by it.
    target: str


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"


def text_answer(status: HTTPStatus, message: str) -> Answer:
    return Answer(status, message.encode())


class Inbound:
    """What each route does, on a store; the router (`web.inbound`) only reads and answers."""

    def __init__(self, store: Store, settings: InboundSettings) -> None:
        settings.check()
        self.store = store
        self.settings = settings

    def handle(self, request: Request) -> Answer:
        if request.method == "GET" and request.path == HEALTH_PATH:
            return text_answer(HTTPStatus.OK, "ok")
        routes = {
            TWILIO_STATUS_PATH: self.twilio_status,
            TWILIO_INBOUND_PATH: self.twilio_reply,
            SENDGRID_EVENTS_PATH: self.sendgrid_events,
        }
        route = routes.get(request.path)
        if route is None:
            return text_answer(HTTPStatus.NOT_FOUND, f"no route {request.path}")
        if request.method != "POST":
            return text_answer(HTTPStatus.METHOD_NOT_ALLOWED, "POST only")
        try:
            return route(request)
        except ValueError as error:  # the parsers name the bad field
            return text_answer(HTTPStatus.BAD_REQUEST, str(error))

    # -- Twilio ------------------------------------------------------------------------------

    def twilio_status(self, request: Request) -> Answer:
        params, refused = self._twilio_form(request)
        if refused is not None:
            return refused
        sid = _message_sid(params)
        receipt = status_receipt(params)
        if receipt is not None:
            self._apply(receipt, f"twilio-status:{sid}:{receipt.status}")
        return Answer(HTTPStatus.NO_CONTENT)

    def twilio_reply(self, request: Request) -> Answer:
        params, refused = self._twilio_form(request)
        if refused is not None:
            return refused
        phone = params.get("From", "").strip()
        if not phone:
            raise ValueError("From: is required")
        sid = _message_sid(params)
        intent = reply_intent(params.get("Body", ""))
        if intent is not None:
            applied = apply_sms_reply(self.store, sid, phone, intent)
            if applied.outcome in (DUPLICATE, OUT_OF_ORDER):
                log.info("sms reply %s: %s, nothing changed", intent, applied.outcome)
            else:
                log.info("sms reply %s: %d borrower(s) with that number", intent, applied.borrowers)
        return Answer(HTTPStatus.OK, EMPTY_TWIML, "text/xml")

    def _twilio_form(self, request: Request) -> tuple[dict[str, str], Answer | None]:
        try:
            pairs = parse_qsl(
                request.body.decode("utf-8", "replace"),
                keep_blank_values=True,
                max_num_fields=MAX_FORM_FIELDS,
            )
        except ValueError:
            raise ValueError(f"body: at most {MAX_FORM_FIELDS} form fields") from None
        token = self.settings.twilio_auth_token
        if token is None:
            _warn_unverified("Twilio", request.path)
            return dict(pairs), None
        # `check` refused a token without the public URL: never the Host header's word.
        assert self.settings.public_url is not None
        url = self.settings.public_url + request.target
        header = request.headers.get(SIGNATURE_HEADER.lower(), "")
        if not header or not signature_is_valid(token, url, pairs, header):
            log.warning("refused a Twilio request with a bad signature: %s", request.path)
            return {}, text_answer(HTTPStatus.FORBIDDEN, f"{SIGNATURE_HEADER}: invalid")
        return dict(pairs), None

    # -- SendGrid ----------------------------------------------------------------------------

    def sendgrid_events(self, request: Request) -> Answer:
        token = self.settings.sendgrid_token
        if token is None:
            _warn_unverified("SendGrid", request.path)
        else:
            given = (request.query.get("token") or [""])[0]
            if not hmac.compare_digest(given.encode(), token.encode()):
                log.warning("refused a SendGrid request without the right token")
                return text_answer(HTTPStatus.FORBIDDEN, "token: invalid")
        events = parse_json(request.body)
        if not isinstance(events, list):
            raise ValueError("body: must be a JSON array of events")
        # Every event is checked before any is applied, so a bad batch changes nothing.
        receipts = [(event_receipt(event, index), event) for index, event in enumerate(events)]
        for receipt, event in receipts:
            if receipt is not None:
                self._apply(receipt, _sendgrid_key(receipt, event))
        return Answer(HTTPStatus.OK)

    def _apply(self, receipt: Receipt, message_key: str) -> None:
        outcome = apply_receipt(self.store, receipt, message_key)
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


def _message_sid(params: Mapping[str, str]) -> str:
    sid = params.get("MessageSid", "").strip()
    if not sid:
        raise ValueError("MessageSid: is required")
    if len(sid) > MESSAGE_SID_MAX:
        raise ValueError(f"MessageSid: at most {MESSAGE_SID_MAX} characters")
    return sid


def _sendgrid_key(receipt: Receipt, event: Any) -> str:
    """SendGrid's id of the event; without one, a digest of it (a replay repeats its bytes)."""
    if receipt.event_id is not None:
        return f"sendgrid:{receipt.event_id}"
    canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"sendgrid-digest:{hashlib.sha256(canonical.encode()).hexdigest()}"


def _warn_unverified(provider: str, path: str) -> None:
    log.warning(
        "UNVERIFIED %s request accepted on %s: %s=1, never in production",
        provider,
        path,
        INSECURE_DEV_ENV,
    )


# A JSON string (with its escapes), and whatever is not a bracket.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def parse_json(body: bytes) -> Any:
    """The body as JSON; `ValueError` naming the body if it is not JSON or is nested deeper than
    MAX_JSON_DEPTH (the parser recurses: a deep enough body would exhaust the stack)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("body: must be UTF-8 JSON") from None
    depth = 0
    for bracket in _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise ValueError("body: must be a JSON array of events") from None
