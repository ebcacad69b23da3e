"""The agent's case page where no case answers: a missing case is a 404 page, the cases out of
reach a 503 page (never a stack trace), and the pages refuse other roles and forged posts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client

from activities.store import Store
from tests.helpers.desk import Browser, DeskClock, add_desk_users
from tests.helpers.desk_rows import add_case
from web.app import create_app
from web.desk_store import DeskStore
from web.settings import WebSettings


async def unreachable() -> Client:
    raise RuntimeError("connection refused by the test")


@pytest.fixture
async def agent(store: Store, desk_clock: DeskClock) -> AsyncIterator[Browser]:
    add_desk_users(store, {"agent1": "agent", "field1": "field"})
    app = create_app(WebSettings(), store=store, clock=desk_clock, temporal_client=unreachable)
    browser = Browser(app)
    await browser.sign_in("agent1")
    yield browser
    await browser.close()


async def test_a_loan_without_an_open_case_is_a_plain_404_page(agent: Browser) -> None:
    page = await agent.get("/cases/L-nowhere")
    assert page.status_code == 404
    assert "no open case for loan L-nowhere" in page.text
    assert "Traceback" not in page.text


async def test_the_cases_out_of_reach_are_a_503_page_and_no_view_is_recorded(
    agent: Browser, store: Store
) -> None:
    add_case(store, "L-1")
    page = await agent.get("/cases/L-1")
    assert page.status_code == 503
    assert "did not answer" in page.text and "Traceback" not in page.text
    # The borrower's details were not shown, so no view of them is logged.
    assert "Name of B-L-1" not in page.text
    assert DeskStore(store).views_of_case("L-1") == []


async def test_an_action_while_the_cases_are_out_of_reach_is_a_503_page(
    agent: Browser, store: Store
) -> None:
    add_case(store, "L-1")
    await agent.get("/queue")
    answer = await agent.post(
        "/cases/L-1/hold", {"message_id": "h-1", "kind": "dispute", "reason": "says paid"}
    )
    assert answer.status_code == 503


async def test_a_field_collector_may_open_neither_the_queue_nor_a_case(
    store: Store, desk_clock: DeskClock
) -> None:
    add_desk_users(store, {"field1": "field"})
    add_case(store, "L-1")
    browser = Browser(create_app(WebSettings(), store=store, clock=desk_clock))
    await browser.sign_in("field1")
    assert (await browser.get("/queue")).status_code == 403
    assert (await browser.get("/cases/L-1")).status_code == 403
    await browser.close()
