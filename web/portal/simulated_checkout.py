"""A simulated hosted checkout, for `make run` and the tests: no money moves.

It speaks the part of Stripe Checkout that `web.portal.checkout` uses:

    POST /v1/checkout/sessions   form-encoded Checkout Session (Bearer secret key,
                                 Idempotency-Key): {"id", "url", "payment_intent",
                                 "amount_total", "currency", "status": "open", ...}
    GET  /pay/{id}               the hosted page: the amount and a "Pay" button (a form POST)
    POST /pay/{id}               marks the session paid, sends the signed
                                 `checkout.session.completed` event to the webhook (again on a
                                 5xx or no answer, a few times) and 303s to `success_url`

Pressing Pay on a session already paid sends the same event again (same payment id): the
desk applies it once, as it must a provider's replay. Sessions live in memory. The requests
the client made are kept (`created`), so a test can check the wire format.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

import httpx
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from web.portal.checkout import SESSIONS_PATH, SIGNATURE_HEADER, sign

PORT_ENV = "CHECKOUT_SIMULATOR_PORT"
WEBHOOK_URL_ENV = "CHECKOUT_WEBHOOK_URL"
DEFAULT_PORT = 8090
# Pauses before each further try of the webhook: a desk restarting is back within seconds.
RETRY_PAUSES = (0.5, 1.0, 2.0)
WEBHOOK_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
REQUIRED_FIELDS = (
    "line_items[0][price_data][currency]",
    "line_items[0][price_data][unit_amount]",
    "success_url",
    "cancel_url",
)


@dataclass(frozen=True)
class CreateRequest:
    """One session request as it arrived: its form fields and headers."""

    form: dict[str, str]
    headers: dict[str, str]


@dataclass
class SimulatedSession:
    id: str
    payment_intent: str
    amount_total: int
    currency: str
    success_url: str
    cancel_url: str
    client_reference_id: str | None
    metadata: dict[str, str]
    event_id: str
    status: str = "open"
    payment_status: str = "unpaid"

    def wire(self, url: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "checkout.session",
            "url": url if self.status == "open" else None,
            "mode": "payment",
            "payment_intent": self.payment_intent,
            "amount_total": self.amount_total,
            "currency": self.currency,
            "client_reference_id": self.client_reference_id,
            "metadata": self.metadata,
            "status": self.status,
            "payment_status": self.payment_status,
            "success_url": self.success_url,
            "cancel_url": self.cancel_url,
        }


@dataclass
class Simulator:
    """The simulated provider's state; `clock` stamps and signs its events."""

    secret_key: str
    webhook_secret: str
    webhook_url: str
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    retry_pauses: Sequence[float] = RETRY_PAUSES
    sessions: dict[str, SimulatedSession] = field(default_factory=dict)
    by_idempotency_key: dict[str, str] = field(default_factory=dict)
    created: list[CreateRequest] = field(default_factory=list)
    deliveries: list[int] = field(default_factory=list)

    def authorized(self, request: Request) -> bool:
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self.secret_key}".encode())

    def create(self, form: dict[str, str], key: str | None) -> SimulatedSession | str:
        """A new open session, the one `key` made before, or why the form is refused."""
        if key and key in self.by_idempotency_key:
            return self.sessions[self.by_idempotency_key[key]]
        missing = [name for name in REQUIRED_FIELDS if not form.get(name)]
        if missing:
            return f"Missing required param: {missing[0]}."
        if form.get("mode") != "payment":
            return "mode: only payment is simulated"
        amount = form["line_items[0][price_data][unit_amount]"]
        quantity = form.get("line_items[0][quantity]", "1")
        if not amount.isdigit() or not quantity.isdigit():
            return "unit_amount and quantity: must be whole numbers (minor units)"
        session = SimulatedSession(
            id=f"cs_test_{secrets.token_hex(12)}",
            payment_intent=f"pi_{secrets.token_hex(12)}",
            amount_total=int(amount) * int(quantity),
            currency=form["line_items[0][price_data][currency]"],
            success_url=form["success_url"],
            cancel_url=form["cancel_url"],
            client_reference_id=form.get("client_reference_id"),
            metadata={
                name[len("metadata[") : -1]: value
                for name, value in form.items()
                if name.startswith("metadata[") and name.endswith("]")
            },
            event_id=f"evt_{secrets.token_hex(12)}",
        )
        self.sessions[session.id] = session
        if key:
            self.by_idempotency_key[key] = session.id
        return session

    def event(self, session: SimulatedSession) -> bytes:
        body = {
            "id": session.event_id,
            "object": "event",
            "type": "checkout.session.completed",
            "created": int(self.clock().timestamp()),
            "livemode": False,
            "data": {"object": session.wire("")},
        }
        return json.dumps(body).encode()

    async def deliver(self, session: SimulatedSession) -> int | None:
        """Send the paid session's event; the desk's last status, None if it never answered."""
        payload = self.event(session)
        status: int | None = None
        async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT) as http:
            for pause in (0.0, *self.retry_pauses):
                await asyncio.sleep(pause)
                headers = {
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: sign(self.webhook_secret, payload, self.clock()),
                }
                try:
                    response = await http.post(self.webhook_url, content=payload, headers=headers)
                except httpx.HTTPError:
                    continue
                status = response.status_code
                self.deliveries.append(status)
                if status < HTTPStatus.INTERNAL_SERVER_ERROR:
                    break
        return status


def application(simulator: Simulator, *, public_url: str | None = None) -> FastAPI:
    """The simulator's app; `public_url` is its own address for the hosted pages' links (by
    default the address it was asked at)."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    def own_url(request: Request) -> str:
        return (public_url or str(request.base_url)).rstrip("/")

    @app.post(SESSIONS_PATH)
    async def create_session(request: Request) -> Response:
        if not simulator.authorized(request):
            return _error(HTTPStatus.UNAUTHORIZED, "Invalid API Key provided.")
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        simulator.created.append(CreateRequest(form, dict(request.headers.items())))
        made = simulator.create(form, request.headers.get("idempotency-key"))
        if isinstance(made, str):
            return _error(HTTPStatus.BAD_REQUEST, made)
        return JSONResponse(made.wire(f"{own_url(request)}/pay/{made.id}"))

    @app.get("/pay/{session_id}")
    async def hosted_page(session_id: str) -> Response:
        session = simulator.sessions.get(session_id)
        if session is None:
            return HTMLResponse(_page("No such checkout session."), HTTPStatus.NOT_FOUND)
        return HTMLResponse(_page(_pay_form(session)))

    @app.post("/pay/{session_id}")
    async def pay(session_id: str) -> Response:
        session = simulator.sessions.get(session_id)
        if session is None:
            return HTMLResponse(_page("No such checkout session."), HTTPStatus.NOT_FOUND)
        session.status, session.payment_status = "complete", "paid"
        status = await simulator.deliver(session)
        if status is None or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            text = "Paid, but the merchant was not told yet: press Pay again to resend."
            return HTMLResponse(_page(text + _pay_form(session)), HTTPStatus.BAD_GATEWAY)
        return RedirectResponse(session.success_url, HTTPStatus.SEE_OTHER)

    return app


def _pay_form(session: SimulatedSession) -> str:
    amount = f"{session.amount_total / 100:.2f} {session.currency.upper()}"
    return (
        f"<p>Amount: <strong data-amount>{escape(amount)}</strong></p>"
        f'<form method="post" action="/pay/{escape(session.id)}">'
        '<button type="submit">Pay</button></form>'
        f'<p><a href="{escape(session.cancel_url)}">Cancel</a></p>'
    )


def _page(body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Simulated checkout</title></head><body><main>"
        "<h1>Simulated checkout</h1><p><em>A simulation: no money moves.</em></p>"
        f"{body}</main></body></html>"
    )


def _error(status: HTTPStatus, message: str) -> JSONResponse:
    # Stripe's error envelope.
    return JSONResponse({"error": {"type": "invalid_request_error", "message": message}}, status)
