"""A borrower's payment through the hosted checkout, against a real case (the time-skipping
server, a worker running the real workflow): the provider's signed webhook records it with the
provider's payment id and the source `self_service`, a replay applies once, and the whole
simulated flow (session, hosted page, Pay, webhook) runs over real loopback HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.store import Store
from tests.helpers.cases import end_case, start_case, status_of
from tests.helpers.desk import DeskClock
from tests.helpers.serving import served_here
from tests.helpers.temporal import CaseWorld, make_worker
from web.mounts import desk_app
from web.portal.checkout import SIGNATURE_HEADER, WEBHOOK_PATH, CheckoutSettings, sign
from web.portal.checkout import start_checkout as start_session
from web.portal.simulated_checkout import Simulator, application
from web.settings import WebSettings

SECRET_KEY = "sk_test_simulated"
WEBHOOK_SECRET = "whsec_simulated"
ENVIRON = {"CHECKOUT_WEBHOOK_SECRET": WEBHOOK_SECRET}


@asynccontextmanager
async def desk_for(env: WorkflowEnvironment, world: CaseWorld) -> AsyncIterator[tuple[Any, Any]]:
    """A running case and the desk (checkout webhook mounted) with its clock at the case's."""
    store = Store.from_url(world.database_url)
    store.migrate()
    clock = DeskClock()

    async def client() -> Client:
        return env.client

    built = desk_app(
        WebSettings(port=0), store, temporal_client=client, environ=ENVIRON, clock=clock
    )
    async with make_worker(env.client, world):
        handle = await start_case(env, world, days_overdue=3)
        clock.now = await env.get_current_time()
        try:
            yield built.app, (handle, clock)
        finally:
            await end_case(handle)
    store.dispose()


async def test_a_signed_webhook_records_the_payment_once_with_the_providers_id(
    time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    async with desk_for(time_env, case_world) as (app, (handle, clock)):
        loan_id = handle.id.removeprefix("collection-")
        created = int(clock().timestamp())
        session = {
            "id": "cs_test_1",
            "payment_intent": "pi_abc",
            "payment_status": "paid",
            "amount_total": 100000,
            "currency": "cny",
            "client_reference_id": loan_id,
        }
        event = {"id": "evt_1", "type": "checkout.session.completed", "created": created}
        body = json.dumps({**event, "data": {"object": session}}).encode()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://desk") as http:
            answers = [
                await http.post(
                    WEBHOOK_PATH,
                    content=body,
                    headers={SIGNATURE_HEADER: sign(WEBHOOK_SECRET, body, clock())},
                )
                for _ in range(2)
            ]
        status = await status_of(handle)

    assert [answer.status_code for answer in answers] == [200, 200]
    first, replay = (answer.json() for answer in answers)
    assert first == {"payment_id": "pi_abc", "applied": True, "duplicate": False}
    # The case answers a replay as it answered the first time, saying it is a duplicate.
    assert replay == {"payment_id": "pi_abc", "applied": True, "duplicate": True}
    [payment] = status["payments"]
    assert (payment["payment_id"], payment["amount_minor"]) == ("pi_abc", 100000)
    assert payment["source"] == "self_service"
    assert status["outstanding_minor"] == 400000 and status["paid_minor"] == 100000


async def test_the_simulated_checkout_pays_the_case_over_loopback(
    time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    async with desk_for(time_env, case_world) as (app, (handle, clock)):
        loan_id = handle.id.removeprefix("collection-")
        async with served_here(app) as desk_url:
            simulator = Simulator(
                SECRET_KEY, WEBHOOK_SECRET, desk_url + WEBHOOK_PATH, clock=clock, retry_pauses=()
            )
            async with served_here(application(simulator)) as provider_url:
                settings = CheckoutSettings(base_url=provider_url, secret_key=SECRET_KEY)
                session = await start_session(
                    settings,
                    loan_id=loan_id,
                    amount_minor=500000,
                    currency="CNY",
                    message_id="pay-1",
                    success_url=f"{desk_url}/p/home?paid=1",
                    cancel_url=f"{desk_url}/p/home",
                )
                async with httpx.AsyncClient(timeout=30) as browser:
                    page = await browser.get(session.url)
                    paid = await browser.post(session.url)
                    # Pressed again: the provider sends the same event, applied once.
                    again = await browser.post(session.url)
        status = await status_of(handle)

    assert page.status_code == 200 and '<button type="submit">Pay</button>' in page.text
    assert "5000.00 CNY" in page.text and "<script" not in page.text
    assert (paid.status_code, paid.headers["location"]) == (303, f"{desk_url}/p/home?paid=1")
    assert again.status_code == 303
    assert simulator.deliveries == [200, 200]
    payment_id = simulator.sessions[session.id].payment_intent
    [payment] = status["payments"]
    assert (payment["payment_id"], payment["source"]) == (payment_id, "self_service")
    assert status["status"] == "paid" and status["outstanding_minor"] == 0
