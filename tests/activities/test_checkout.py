"""The hosted checkout's two edges without a case: the client speaks Stripe's Checkout Session
wire format (to the simulated provider on real loopback, which keeps what it was sent), and
the webhook on the desk refuses what is not signed, fresh and a paid session's event before it
ever reaches for a case, and answers 5xx when the case cannot be reached."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from activities.store import Store
from runtime.serving import Served, serve_in_thread
from tests.helpers.desk import DeskClock
from web.mounts import desk_app
from web.portal.checkout import (
    SIGNATURE_HEADER,
    WEBHOOK_PATH,
    CheckoutError,
    CheckoutSettings,
    paid_session,
    sign,
    start_checkout,
)
from web.portal.simulated_checkout import Simulator, application
from web.settings import WebSettings

SECRET_KEY = "sk_test_simulated"
WEBHOOK_SECRET = "whsec_simulated"


@pytest.fixture
def provider(desk_clock: DeskClock) -> Iterator[tuple[Simulator, Served]]:
    simulator = Simulator(SECRET_KEY, WEBHOOK_SECRET, "http://127.0.0.1:1/unused", clock=desk_clock)
    served = serve_in_thread(application(simulator), "127.0.0.1", 0, name="checkout")
    yield simulator, served
    served.stop()


async def test_a_session_is_created_in_stripes_wire_format_once_per_message(
    provider: tuple[Simulator, Served],
) -> None:
    simulator, served = provider
    settings = CheckoutSettings(base_url=served.url, secret_key=SECRET_KEY)
    request: dict[str, Any] = {
        "loan_id": "L-1001",
        "amount_minor": 123450,
        "currency": "CNY",
        "message_id": "m-1",
        "success_url": "http://desk/p/home?paid=1",
        "cancel_url": "http://desk/p/home",
    }
    first = await start_checkout(settings, **request)
    again = await start_checkout(settings, **request)
    other = await start_checkout(settings, **{**request, "message_id": "m-2"})

    [sent, *_] = simulator.created
    assert sent.form == {
        "mode": "payment",
        "line_items[0][price_data][currency]": "cny",
        "line_items[0][price_data][unit_amount]": "123450",
        "line_items[0][price_data][product_data][name]": "Loan repayment",
        "line_items[0][quantity]": "1",
        "success_url": "http://desk/p/home?paid=1",
        "cancel_url": "http://desk/p/home",
        "client_reference_id": "L-1001",
        "metadata[loan_id]": "L-1001",
    }
    assert sent.headers["authorization"] == f"Bearer {SECRET_KEY}"
    assert sent.headers["idempotency-key"] == "m-1"
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    # The same message id is the same session (a double click opens one); another is new.
    assert again == first and other.id != first.id
    assert first.id.startswith("cs_test_") and first.url == f"{served.url}/pay/{first.id}"
    session = simulator.sessions[first.id]
    assert (session.amount_total, session.currency) == (123450, "cny")


async def test_a_refused_key_or_an_unreachable_provider_is_a_checkout_error(
    provider: tuple[Simulator, Served],
) -> None:
    _, served = provider
    request: dict[str, Any] = {
        "loan_id": "L-1",
        "amount_minor": 100,
        "currency": "CNY",
        "message_id": "m",
        "success_url": "http://desk/ok",
        "cancel_url": "http://desk/no",
    }
    wrong = CheckoutSettings(base_url=served.url, secret_key="sk_test_guess")
    with pytest.raises(CheckoutError, match="401"):
        await start_checkout(wrong, **request)
    closed = CheckoutSettings(base_url="http://127.0.0.1:1", secret_key=SECRET_KEY)
    with pytest.raises(CheckoutError, match="unreachable"):
        await start_checkout(closed, **request)
    with pytest.raises(CheckoutError, match="CHECKOUT_SECRET_KEY"):
        await start_checkout(CheckoutSettings(base_url=served.url), **request)


def paid_event(created: int, *, event_type: str = "checkout.session.completed") -> bytes:
    session = {
        "id": "cs_test_1",
        "object": "checkout.session",
        "payment_intent": "pi_1",
        "payment_status": "paid",
        "amount_total": 5000,
        "currency": "cny",
        "client_reference_id": "L-1",
        "metadata": {"loan_id": "L-1"},
    }
    event = {"id": "evt_1", "type": event_type, "created": created, "data": {"object": session}}
    return json.dumps(event).encode()


class Reached:
    """A Temporal client factory that counts the webhook's attempts to reach a case, and
    fails them as an unreachable server does."""

    def __init__(self) -> None:
        self.count = 0

    async def __call__(self) -> Client:
        self.count += 1
        raise RuntimeError("Failed client connect: connection refused")


def desk_http(store: Store, clock: DeskClock, reached: Reached) -> httpx.AsyncClient:
    environ = {"CHECKOUT_WEBHOOK_SECRET": WEBHOOK_SECRET}
    built = desk_app(
        WebSettings(port=0), store, temporal_client=reached, environ=environ, clock=clock
    )
    assert built.checkout is not None
    transport = httpx.ASGITransport(app=built.app)
    return httpx.AsyncClient(transport=transport, base_url="http://desk")


async def post_event(http: httpx.AsyncClient, body: bytes, signature: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers[SIGNATURE_HEADER] = signature
    return await http.post(WEBHOOK_PATH, content=body, headers=headers)


async def test_the_webhook_refuses_unsigned_forged_and_stale_events_before_any_case(
    store: Store, desk_clock: DeskClock
) -> None:
    reached = Reached()
    created = int(desk_clock().timestamp())
    body = paid_event(created)
    async with desk_http(store, desk_clock, reached) as http:
        missing = await post_event(http, body, None)
        forged = await post_event(http, body, sign("whsec_guess", body, desk_clock()))
        # Signed for another body: the signature covers every byte.
        altered = await post_event(http, body + b" ", sign(WEBHOOK_SECRET, body, desk_clock()))
        garbled = await post_event(http, body, "v1=abc")
        signed_now = sign(WEBHOOK_SECRET, body, desk_clock())
        desk_clock.advance(timedelta(minutes=5, seconds=1))
        stale = await post_event(http, body, signed_now)
        desk_clock.advance(timedelta(minutes=-10, seconds=-2))
        early = await post_event(http, body, signed_now)

    answers = [missing, forged, altered, garbled, stale, early]
    assert [answer.status_code for answer in answers] == [400] * 6
    assert "is required" in missing.text and "does not match" in forged.text
    assert "does not match" in altered.text and "tolerance" in stale.text
    assert "tolerance" in early.text
    assert reached.count == 0


async def test_other_events_are_acknowledged_and_an_unreachable_case_is_retried(
    store: Store, desk_clock: DeskClock
) -> None:
    reached = Reached()
    created = int(desk_clock().timestamp())
    expired = paid_event(created, event_type="checkout.session.expired")
    paid = paid_event(created)
    async with desk_http(store, desk_clock, reached) as http:
        ignored = await post_event(http, expired, sign(WEBHOOK_SECRET, expired, desk_clock()))
        assert (ignored.status_code, reached.count) == (200, 0)
        assert ignored.json() == {"received": True, "recorded": False}
        # Signed and paid: the desk reaches for the case, which cannot be reached.
        retried = await post_event(http, paid, sign(WEBHOOK_SECRET, paid, desk_clock()))

    assert retried.status_code == 503 and reached.count == 1
    # The signature is the only credential: no CSRF token, and no cookie set either way.
    assert "set-cookie" not in ignored.headers and "set-cookie" not in retried.headers


def test_a_paid_event_becomes_the_contracts_record_payment() -> None:
    paid = paid_session(json.loads(paid_event(1773144000)))
    assert paid is not None and paid.loan_id == "L-1"
    assert paid.payment == {
        "payment_id": "pi_1",
        "amount_minor": 5000,
        "currency": "CNY",
        "source": "self_service",
        "paid_at": "2026-03-10T12:00:00+00:00",
    }
    unpaid = json.loads(paid_event(1))
    unpaid["data"]["object"]["payment_status"] = "unpaid"
    assert paid_session(unpaid) is None
    expanded = json.loads(paid_event(1))
    expanded["data"]["object"]["payment_intent"] = {"id": "pi_9", "object": "payment_intent"}
    assert (paid_session(expanded) or pytest.fail("not paid")).payment["payment_id"] == "pi_9"
    no_loan = json.loads(paid_event(1))
    no_loan["data"]["object"].update(client_reference_id=None, metadata={})
    with pytest.raises(ValueError, match="loan id"):
        paid_session(no_loan)
    with pytest.raises(ValueError, match=r"data\.object"):
        paid_session({"type": "checkout.session.completed", "data": []})
