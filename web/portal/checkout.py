"""Payments through a hosted checkout (issue 17): a Stripe-Checkout-compatible provider.

- `start_checkout` creates a Checkout Session (`POST {CHECKOUT_BASE_URL}/v1/checkout/sessions`,
  form-encoded as Stripe takes it, `CHECKOUT_SECRET_KEY` as the Bearer key, the caller's
  message id as the `Idempotency-Key`, so a resent request opens no second session) and returns
  the page the borrower is sent to.
- `router` serves `POST /checkout/webhook`: the provider's signed events. A
  `checkout.session.completed` (or `checkout.session.async_payment_succeeded`) event of a paid
  session becomes the case's `record_payment` update, with the provider's payment id
  (`payment_intent`) as its idempotency key and `"source": "self_service"`: a replayed event
  is answered 200 and applies once.

The signature is Stripe's scheme: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of
"<t>.<body>" with CHECKOUT_WEBHOOK_SECRET>`, at most five minutes away from our clock (an
old signed event is not replayed by someone who captured it). A missing or wrong signature is
answered 400 and nothing is recorded. Nothing the provider sends is lost: when the case cannot
be reached the answer is 503, and the provider retries any answer that is not 2xx.
Logs carry loan ids and payment ids, never the borrower's details.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError

from caseclient.messages import CaseNotFound, call_update, send_signal, workflow_id

log = logging.getLogger("checkout")

BASE_URL_ENV = "CHECKOUT_BASE_URL"
SECRET_KEY_ENV = "CHECKOUT_SECRET_KEY"
WEBHOOK_SECRET_ENV = "CHECKOUT_WEBHOOK_SECRET"
DEFAULT_BASE_URL = "https://api.stripe.com"
# Where Stripe's hosted pages live (its API is elsewhere).
STRIPE_PAGES_ORIGIN = "https://checkout.stripe.com"
SESSIONS_PATH = "/v1/checkout/sessions"
WEBHOOK_PATH = "/checkout/webhook"
SIGNATURE_HEADER = "Stripe-Signature"
# Stripe's own libraries refuse a signature older (or newer) than this.
TOLERANCE = timedelta(minutes=5)
# A checkout event is a few kilobytes; a body far larger is not one.
MAX_BODY_BYTES = 256 * 1024
SOURCE = "self_service"
# The events that say a session's money arrived (the second for delayed payment methods).
PAID_EVENTS = frozenset({"checkout.session.completed", "checkout.session.async_payment_succeeded"})
# The borrower waits for the redirect: a provider that does not answer soon is reported.
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
# How long the webhook waits for the case: below the provider's own wait (Stripe: 20 s).
CASE_TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True)
class CheckoutSettings:
    base_url: str = DEFAULT_BASE_URL
    secret_key: str | None = None
    webhook_secret: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CheckoutSettings:
        env = os.environ if environ is None else environ
        return cls(
            base_url=(env.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/"),
            secret_key=env.get(SECRET_KEY_ENV) or None,
            webhook_secret=env.get(WEBHOOK_SECRET_ENV) or None,
        )

    @property
    def page_origin(self) -> str:
        """The origin of the provider's hosted page, where the portal's Pay form is redirected
        (the page's `form-action` must allow it): Stripe's pages are not on its API's origin;
        another provider's (the simulator's) are taken to be on its API's."""
        if self.base_url == DEFAULT_BASE_URL:
            return STRIPE_PAGES_ORIGIN
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str


class CheckoutError(Exception):
    """The provider refused the session or could not be reached; nothing was charged."""


def session_form(
    *,
    loan_id: str,
    amount_minor: int,
    currency: str,
    success_url: str,
    cancel_url: str,
) -> dict[str, str]:
    """The Checkout Session's fields as Stripe reads them: amounts in minor units, currency
    lowercase. The product's name is generic: the provider's page shows no borrower details."""
    return {
        "mode": "payment",
        "line_items[0][price_data][currency]": currency.lower(),
        "line_items[0][price_data][unit_amount]": str(amount_minor),
        "line_items[0][price_data][product_data][name]": "Loan repayment",
        "line_items[0][quantity]": "1",
        "success_url": success_url,
        "cancel_url": cancel_url,
        "client_reference_id": loan_id,
        "metadata[loan_id]": loan_id,
    }


async def start_checkout(
    settings: CheckoutSettings,
    *,
    loan_id: str,
    amount_minor: int,
    currency: str,
    message_id: str,
    success_url: str,
    cancel_url: str,
    http: httpx.AsyncClient | None = None,
) -> CheckoutSession:
    """Create a Checkout Session for `amount_minor` of `currency` toward `loan_id`'s case.

    `message_id` is the idempotency key: the form sent twice (a double click, a retry after a
    lost answer) gets the same session back. Raises `CheckoutError`."""
    if settings.secret_key is None:
        raise CheckoutError(f"{SECRET_KEY_ENV}: is not set")
    form = session_form(
        loan_id=loan_id,
        amount_minor=amount_minor,
        currency=currency,
        success_url=success_url,
        cancel_url=cancel_url,
    )
    headers = {
        "Authorization": f"Bearer {settings.secret_key}",
        "Idempotency-Key": message_id,
    }
    url = settings.base_url + SESSIONS_PATH
    try:
        if http is None:
            async with httpx.AsyncClient(timeout=TIMEOUT) as own:
                response = await own.post(url, data=form, headers=headers)
        else:
            response = await http.post(url, data=form, headers=headers, timeout=TIMEOUT)
    except httpx.HTTPError as error:
        raise CheckoutError(f"checkout provider unreachable: {type(error).__name__}") from None
    if response.status_code != HTTPStatus.OK:
        raise CheckoutError(f"checkout provider answered {response.status_code}")
    try:
        answer = response.json()
        return CheckoutSession(id=str(answer["id"]), url=str(answer["url"]))
    except (ValueError, KeyError, TypeError):
        raise CheckoutError("checkout provider answered without a session id and url") from None


def sign(secret: str, payload: bytes, at: datetime) -> str:
    """The `Stripe-Signature` header for `payload` sent at `at` (the simulator and the tests
    sign with it)."""
    timestamp = int(at.timestamp())
    return f"t={timestamp},v1={_digest(secret, timestamp, payload)}"


def signature_problem(secret: str, header: str | None, payload: bytes, now: datetime) -> str | None:
    """Why the signature does not hold, or None when it does. Every `v1` is tried (a provider
    rolling its secret signs with both), each compared in constant time."""
    if not header:
        return f"{SIGNATURE_HEADER}: is required"
    timestamps: list[str] = []
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            signatures.append(value)
    if len(timestamps) != 1 or not timestamps[0].isdigit() or not signatures:
        return f"{SIGNATURE_HEADER}: must be t=<unix time>,v1=<signature>"
    timestamp = int(timestamps[0])
    if abs(now.timestamp() - timestamp) > TOLERANCE.total_seconds():
        return f"{SIGNATURE_HEADER}: timestamp outside the tolerance of {TOLERANCE}"
    expected = _digest(secret, timestamp, payload)
    if not any(hmac.compare_digest(expected, given) for given in signatures):
        return f"{SIGNATURE_HEADER}: does not match"
    return None


def _digest(secret: str, timestamp: int, payload: bytes) -> str:
    signed = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class PaidSession:
    """What a paid session's event tells the case."""

    loan_id: str
    payment: dict[str, Any]


def paid_session(event: Any) -> PaidSession | None:
    """The payment of a paid-session event; None for any other event (answered 200, ignored).
    Raises `ValueError` for a paid-session event without what a payment needs."""
    if not isinstance(event, dict) or event.get("type") not in PAID_EVENTS:
        return None
    data = event.get("data")
    session = data.get("object") if isinstance(data, dict) else None
    if not isinstance(session, dict):
        raise ValueError("data.object: must be the checkout session")
    if session.get("payment_status") != "paid":
        # `completed` with `unpaid`: a delayed method; its money comes with a later event.
        return None
    metadata = session.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
    loan_id = session.get("client_reference_id") or metadata.get("loan_id")
    intent = session.get("payment_intent")
    # Expanded, the payment intent is an object carrying its id.
    payment_id = intent.get("id") if isinstance(intent, dict) else intent
    amount, currency = session.get("amount_total"), session.get("currency")
    if not isinstance(loan_id, str) or not loan_id:
        raise ValueError("client_reference_id: the loan id is required")
    if not isinstance(payment_id, str) or not payment_id:
        raise ValueError("payment_intent: the payment id is required")
    if not isinstance(amount, int) or isinstance(amount, bool) or not isinstance(currency, str):
        raise ValueError("amount_total and currency: are required")
    payment: dict[str, Any] = {
        "payment_id": payment_id,
        "amount_minor": amount,
        "currency": currency.upper(),
        "source": SOURCE,
    }
    created = event.get("created")
    if isinstance(created, int) and not isinstance(created, bool):
        payment["paid_at"] = datetime.fromtimestamp(created, UTC).isoformat()
    return PaidSession(loan_id, payment)


def router(
    settings: CheckoutSettings,
    *,
    temporal_client: Callable[[], Awaitable[Client]] | None,
    clock: Callable[[], datetime],
) -> APIRouter:
    """`POST /checkout/webhook`; `clock` is the only "now" the signature check reads."""
    if settings.webhook_secret is None:
        raise ValueError(f"{WEBHOOK_SECRET_ENV}: is required to serve the checkout webhook")
    secret = settings.webhook_secret
    routes = APIRouter()

    async def webhook(request: Request) -> Response:
        body = await _body(request)
        if isinstance(body, Response):
            return body
        problem = signature_problem(secret, request.headers.get(SIGNATURE_HEADER), body, clock())
        if problem is not None:
            log.warning("checkout webhook refused: %s", problem)
            return _text(HTTPStatus.BAD_REQUEST, problem)
        try:
            paid = paid_session(json.loads(body))
        except (ValueError, RecursionError) as error:
            log.warning("checkout webhook refused: %s", error)
            return _text(HTTPStatus.BAD_REQUEST, f"event: {error}")
        if paid is None:
            return JSONResponse({"received": True, "recorded": False})
        return await _record(temporal_client, paid)

    routes.add_api_route(WEBHOOK_PATH, webhook, methods=["POST"], include_in_schema=False)
    return routes


async def _body(request: Request) -> bytes | Response:
    too_large = _text(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body: at most {MAX_BODY_BYTES} bytes")
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
        return too_large
    chunks: list[bytes] = []
    size = 0
    # Counted as it arrives: a body without a length is not held in memory past the limit.
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def _record(
    temporal_client: Callable[[], Awaitable[Client]] | None, paid: PaidSession
) -> Response:
    """The payment sent to its case: 200 once recorded (or recorded before), 5xx while the
    case cannot be reached, so that the provider sends it again."""
    payment_id = paid.payment["payment_id"]
    try:
        if temporal_client is None:
            raise ConnectionError("no Temporal client configured")
        client = await temporal_client()
        try:
            answer = await call_update(
                client, paid.loan_id, "record_payment", paid.payment, timeout=CASE_TIMEOUT_SECONDS
            )
        except WorkflowUpdateFailedError as error:
            # The money has been taken: a payment the case refuses (another currency, say) is
            # kept in its `rejected_payments` by the signal that shares the update's checks.
            handle = client.get_workflow_handle(workflow_id(paid.loan_id))
            await send_signal(handle, "payment_received", paid.payment)
            log.warning("checkout payment %s of %s rejected: %s", payment_id, paid.loan_id, error)
            return JSONResponse({"payment_id": payment_id, "applied": False, "rejected": True})
    except CaseNotFound:
        log.error("checkout payment %s: no open case for %s", payment_id, paid.loan_id)
        return _text(HTTPStatus.SERVICE_UNAVAILABLE, "no open case for this payment")
    except (TimeoutError, RPCError, OSError, RuntimeError) as error:
        log.error("checkout payment %s not recorded yet: %s", payment_id, type(error).__name__)
        return _text(HTTPStatus.SERVICE_UNAVAILABLE, "the case cannot be reached; send it again")
    log.info(
        "checkout payment %s of %s: applied=%s duplicate=%s",
        payment_id,
        paid.loan_id,
        answer.get("applied"),
        answer.get("duplicate"),
    )
    return JSONResponse(
        {
            "payment_id": payment_id,
            "applied": answer.get("applied"),
            "duplicate": answer.get("duplicate"),
        }
    )


def _text(status: HTTPStatus, text: str) -> PlainTextResponse:
    return PlainTextResponse(text + "\n", status_code=status)
