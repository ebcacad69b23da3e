"""The borrower's own page `/p/home` against a real case: the time-skipping server, a worker
running the real workflow, the case database on SQLite, the portal driven by a browser that
signs in with the link and its code. Actions go to the case with `source` self_service."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import col, select
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.notify import notifier_from_env
from activities.store import Store
from domain.money import format_money
from migrations.tables import CaseRow
from tests.helpers.cases import case_today, end_case, rows, start_case, status_of, status_when
from tests.helpers.desk import Browser, DeskClock
from tests.helpers.eventually import eventually
from tests.helpers.portal import KEYS, link_path, sign_in_borrower
from tests.helpers.serving import served_here
from tests.helpers.temporal import (
    BORROWER_TIMEZONE,
    CaseWorld,
    advance_to_local_time,
    make_worker,
)
from web.app import create_app
from web.portal.simulated_checkout import Simulator, application
from web.settings import WebSettings

MESSAGE_ID = re.compile(r'name="message_id" value="([0-9a-f]{32})"')


def answer_of(page: httpx.Response) -> str:
    start = page.text.find('<p class="answer')
    assert start >= 0 and "data-answer" in page.text, "no [data-answer] on the page"
    return page.text[start : page.text.find("</p>", start)]


async def after(browser: Browser, sent: httpx.Response) -> httpx.Response:
    """The page a form's 303 leads to."""
    assert sent.status_code == 303 and sent.headers["location"] == "/p/home", sent.text
    return await browser.get("/p/home")


@dataclass
class Portal:
    browser: Browser
    handle: WorkflowHandle[Any, Any]
    today: date
    store: Store
    clock: DeskClock

    async def home(self) -> httpx.Response:
        return await self.browser.get("/p/home")

    async def post(self, path: str, data: dict[str, str]) -> httpx.Response:
        return await after(self.browser, await self.browser.post(path, data))


@asynccontextmanager
async def signed_out(env: WorkflowEnvironment, world: CaseWorld) -> AsyncIterator[Portal]:
    """A running case, the desk with its portal, a browser not yet signed in."""
    store = Store.from_url(world.database_url)
    store.migrate()
    clock = DeskClock()

    async def client() -> Client:
        return env.client

    app = create_app(
        WebSettings(),
        store=store,
        clock=clock,
        temporal_client=client,
        link_keys=KEYS,
        notifier=notifier_from_env({}),
    )
    browser = Browser(app)
    async with make_worker(env.client, world):
        handle = await start_case(env, world, days_overdue=15)
        clock.now = await env.get_current_time()
        portal = Portal(browser, handle, await case_today(env), store, clock)
        try:
            yield portal
        finally:
            await end_case(handle)
            await browser.close()
    store.dispose()


async def sign_in(portal: Portal) -> None:
    """Open a fresh link to the case (once the case has written its row), enter the code, and
    open the home page (the browser takes the CSRF token renewed at sign-in from it)."""
    loan_id = portal.handle.id.removeprefix("collection-")

    def case_row() -> CaseRow | None:
        with portal.store.reading() as session:
            return session.exec(select(CaseRow).where(col(CaseRow.loan_id) == loan_id)).first()

    case = await eventually(case_row)
    assert case is not None
    await sign_in_borrower(
        portal.browser, portal.store, link_path(portal.store, case, portal.clock.now)
    )
    assert (await portal.home()).status_code == 200


def events(world: CaseWorld, ref_id: str) -> list[tuple[str, dict[str, Any]]]:
    found = rows(world, f"select kind, detail from case_events where ref_id = '{ref_id}'")
    return [(kind, json.loads(detail)) for kind, detail in found]


async def test_the_home_page_shows_the_debt_only_after_sign_in_and_a_plan_is_accepted(
    time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    async with signed_out(time_env, case_world) as portal:
        status = await status_of(portal.handle)
        owed = format_money(int(status["outstanding_minor"]), str(status["currency"]))
        before = await portal.home()
        assert before.status_code == 303 and before.headers["location"] == "/p/again"
        again = await portal.browser.get("/p/again")
        assert owed not in again.text

        await sign_in(portal)
        page = await portal.home()
        assert page.status_code == 200 and owed in page.text
        assert "data-next" in page.text and "目前没有安排的下一步" not in page.text
        assert 'data-limits="plan"' in page.text
        assert "/p/" not in page.text[: page.text.find("</title>")]
        assert len(MESSAGE_ID.findall(page.text)) >= 4

        plan = {"message_id": "plan-1", "count": "3", "first_due": portal.today.isoformat()}
        page = await portal.post("/p/plan", plan)
        assert "answer accepted" in answer_of(page), answer_of(page)
        assert page.text.count("data-installment") == 3
        assert (await status_of(portal.handle))["status"] == "in_plan"
        [(_, detail)] = events(case_world, "plan-1")
        assert detail["source"] == "self_service"

        # The same form sent again: the case's idempotency id, nothing changes.
        before_again = await status_of(portal.handle)
        await portal.post("/p/plan", plan)
        again_status = await status_of(portal.handle)
        for field in ("status", "plan", "promise", "outstanding_minor", "rejected_plans"):
            assert again_status[field] == before_again[field]
        assert len(events(case_world, "plan-1")) == 1


async def test_a_promise_too_far_ahead_is_refused_then_english_and_a_dispute(
    time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    async with signed_out(time_env, case_world) as portal:
        await sign_in(portal)
        far = {
            "message_id": "promise-far",
            "amount": "100.00",
            "due_date": (portal.today + timedelta(days=90)).isoformat(),
        }
        page = await portal.post("/p/promise", far)
        answer = answer_of(page)
        assert "answer rejected" in answer and "due_date" in answer
        status = await status_of(portal.handle)
        assert status["promise"] is None and status["status"] == "active"

        page = await portal.post("/p/lang", {"locale": "en"})
        assert '<html lang="en">' in page.text and "What you owe" in page.text

        page = await portal.post("/p/dispute", {"message_id": "d-1", "reason": "not my loan"})
        assert "answer accepted" in answer_of(page) and "Dispute recorded" in answer_of(page)
        assert (await status_of(portal.handle))["status"] == "on_hold"
        [(_, detail)] = events(case_world, "d-1")
        assert detail["source"] == "self_service"

        # Stopping a channel is the SMS STOP's own opt-out, for the borrower on all loans.
        page = await portal.post("/p/stop", {"channel": "call"})
        assert "answer rejected" in answer_of(page) and "channel" in answer_of(page)
        page = await portal.post("/p/stop", {"channel": "sms"})
        assert "answer accepted" in answer_of(page) and "SMS" in answer_of(page)
        marks = rows(case_world, "select channel, state, source from borrower_channels")
        assert marks == [("sms", "opted_out", "self_service")]

        page = await portal.post("/p/pay", {"message_id": "pay-1"})
        assert "not available" in answer_of(page)


async def test_pay_opens_one_checkout_for_the_outstanding_amount(
    time_env: WorkflowEnvironment, case_world: CaseWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    simulator = Simulator("sk_test_home", "whsec_home", "http://127.0.0.1:9/checkout/webhook")
    async with served_here(application(simulator)) as provider_url:
        monkeypatch.setenv("CHECKOUT_BASE_URL", provider_url)
        monkeypatch.setenv("CHECKOUT_SECRET_KEY", "sk_test_home")
        async with signed_out(time_env, case_world) as portal:
            await sign_in(portal)
            outstanding = (await status_of(portal.handle))["outstanding_minor"]
            first = await portal.browser.post("/p/pay", {"message_id": "pay-1"})
            again = await portal.browser.post("/p/pay", {"message_id": "pay-1"})

    assert first.status_code == 303 and first.headers["location"].startswith(provider_url)
    assert again.headers["location"] == first.headers["location"]
    assert len(simulator.sessions) == 1
    [request, _] = simulator.created
    assert request.form["line_items[0][price_data][unit_amount]"] == str(outstanding)
    assert request.form["success_url"].endswith("/p/home?paid=1")
    assert request.headers["idempotency-key"] == "pay-1"


def callback_events(world: CaseWorld) -> list[tuple[str, dict[str, Any]]]:
    found = rows(world, "select ref_id, detail from case_events where kind = 'callback_requested'")
    return [(ref_id, json.loads(detail)) for ref_id, detail in found]


async def test_a_call_back_asked_for_on_the_page_is_the_cases_call_task_then(
    own_time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    """Rejections below: a server of the test's own (see `own_time_env`)."""
    # 10:00 in Shanghai: a call back at 14:00 today is inside the window (08:00-21:00).
    await advance_to_local_time(own_time_env, time(10, 0))
    async with signed_out(own_time_env, case_world) as portal:
        await sign_in(portal)
        page = await portal.home()
        today = portal.today.isoformat()
        form = {"message_id": "cb-page-1", "date": today, "time": "14:00"}

        without_token = await portal.browser.post("/p/callback", form, token="")
        booked = await portal.post("/p/callback", form)
        again = await portal.post("/p/callback", form)
        # The case queues the call back in its loop, after its answer.
        status = await status_when(
            portal.handle, lambda s: any(c["template"] == "callback" for c in s["contacts"])
        )
        at_night = await portal.post(
            "/p/callback", {"message_id": "cb-page-2", "date": today, "time": "22:00"}
        )
        no_time = await portal.post(
            "/p/callback", {"message_id": "cb-page-3", "date": today, "time": "2pm"}
        )
        after = await status_of(portal.handle)

    limits = page.text[page.text.find('data-limits="callback"') :]
    assert "08:00–21:00（Asia/Shanghai 时间）" in limits[: limits.find("</p>")]
    assert 'name="time" type="time" min="08:00" max="20:59"' in page.text
    assert without_token.status_code == 403
    assert "answer accepted" in answer_of(booked) and "已预约回电" in answer_of(booked)
    assert f"{today} 14:00 (Asia/Shanghai)" in answer_of(booked)
    assert "answer accepted" in answer_of(again)
    # Once, from the borrower's page, for 14:00 on their clock.
    at = datetime.combine(portal.today, time(14, 0), tzinfo=BORROWER_TIMEZONE)
    [(ref_id, detail)] = callback_events(case_world)
    assert ref_id == "cb-page-1" and detail["source"] == "self_service"
    assert datetime.fromisoformat(detail["at"]) == at
    [call_back] = [c for c in status["contacts"] if c["template"] == "callback"]
    assert datetime.fromisoformat(call_back["at"]) == at
    # The case's own refusal names `at`; a time the form cannot read is not sent at all.
    assert "answer rejected" in answer_of(at_night) and "at: " in answer_of(at_night)
    assert "contact window" in answer_of(at_night)
    assert "answer rejected" in answer_of(no_time) and "time: " in answer_of(no_time)
    assert after["contacts"] == status["contacts"] and len(callback_events(case_world)) == 1


async def test_installment_states_and_the_next_payment_date_read_in_the_pages_locale(
    time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    async with signed_out(time_env, case_world) as portal:
        await sign_in(portal)
        first_due = portal.today + timedelta(days=3)
        plan = {"message_id": "plan-words", "count": "3", "first_due": first_due.isoformat()}
        zh = await portal.post("/p/plan", plan)
        en = await portal.post("/p/lang", {"locale": "en"})

    for page, due_word, sentence in (
        (zh, "待还", f"您的下一期分期还款到期：{first_due.isoformat()}。"),
        (en, "due", f"Your next plan payment is due by {first_due.isoformat()}."),
    ):
        installments = re.findall(r"<li data-installment>([^<]*)</li>", page.text)
        assert len(installments) == 3
        assert all(item.endswith(f"({due_word})") for item in installments), installments
        # The installment's own due date, not the end of its grace days.
        assert f"<p data-next>{sentence}</p>" in page.text
