"""An agent's work from the desk alone, against a real case (the time-skipping server, a worker
running the real workflow, the case database on SQLite): a call carried to an accepted plan, a
dispute hold, and a call the contact window holds back until the borrower's morning."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.store import Store
from domain.case_details import human_time
from tests.helpers.cases import case_today, end_case, rows, rows_when, start_case, status_of
from tests.helpers.desk import Browser, DeskClock, add_desk_users
from tests.helpers.temporal import BORROWER_TIMEZONE, CaseWorld, advance_to_local_time, make_worker
from web.app import create_app
from web.settings import WebSettings

# Inside the default policy's contact window (08:00-21:00 in the borrower's zone, Shanghai).
OPEN_AT = time(10, 0)


@dataclass
class Desk:
    agent: Browser
    clock: DeskClock
    handle: WorkflowHandle[Any, Any]
    loan_id: str
    attempt_id: str


@asynccontextmanager
async def desk_on_a_case(env: WorkflowEnvironment, case_world: CaseWorld) -> AsyncIterator[Desk]:
    """agent1 signed in at the desk, a phone-stage case whose first call is queued, the desk's
    clock at the case's; the case ends and the browser closes after."""
    store = Store.from_url(case_world.database_url)
    store.migrate()
    add_desk_users(store, {"agent1": "agent"})
    clock = DeskClock()

    async def client() -> Client:
        return env.client

    agent = Browser(create_app(WebSettings(), store=store, clock=clock, temporal_client=client))
    async with make_worker(env.client, case_world):
        await advance_to_local_time(env, OPEN_AT)
        handle = await start_case(env, case_world, days_overdue=15)
        [(attempt_id,)] = await rows_when(case_world, "select work_item_id from work_items", 1)
        clock.now = await env.get_current_time()
        await agent.sign_in("agent1")
        try:
            yield Desk(agent, clock, handle, handle.id.removeprefix("collection-"), attempt_id)
        finally:
            await end_case(handle)
    await agent.close()
    store.dispose()


def answer_of(page: httpx.Response) -> str:
    start = page.text.find('<p class="answer')
    assert start >= 0 and "data-answer" in page.text, "no [data-answer] on the page"
    return page.text[start : page.text.find("</p>", start)]


def section(page: str, marker: str) -> str:
    """The page's text from `marker` to the end of its element's section."""
    start = page.find(marker)
    assert start >= 0, f"{marker} not on the page"
    return page[start : page.find("</section>", start)]


async def test_an_agent_carries_a_case_from_first_call_to_an_accepted_plan(
    own_time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    async with desk_on_a_case(own_time_env, case_world) as desk:
        agent, loan_id = desk.agent, desk.loan_id
        today = await case_today(own_time_env)
        await agent.get("/queue")
        taken = await agent.post("/queue/take", {"loan_id": loan_id, "attempt_id": desk.attempt_id})
        await agent.get(taken.headers["location"])
        reached = await agent.post(
            f"/cases/{loan_id}/outcome", {"attempt_id": desk.attempt_id, "outcome": "reached"}
        )
        reached_page = await agent.get(reached.headers["location"])
        plan = {"count": "3", "first_due": today.isoformat(), "interval": "monthly"}
        preview = await agent.post(f"/cases/{loan_id}/plan/preview", plan)
        sent = await agent.post(f"/cases/{loan_id}/plan", {**plan, "message_id": "plan-1"})
        page = await agent.get(sent.headers["location"])
        status = await status_of(desk.handle)
        outcomes = rows(case_world, "select status, outcome from work_items")

    assert taken.status_code == 303
    assert "answer accepted" in answer_of(reached_page) and "reached" in answer_of(reached_page)
    assert outcomes == [("done", "reached")]
    # The contact history shows when, on the borrower's clock, not the status's ISO string.
    [call] = [c for c in status["contacts"] if c["channel"] == "call"]
    shown_at = human_time(datetime.fromisoformat(call["at"]), "Asia/Shanghai")
    assert f"<td data-contact-at>{shown_at}</td>" in page.text
    assert call["at"] not in page.text
    assert preview.text.count("data-installment") == 3 and "data-refusal" not in preview.text
    assert sent.status_code == 303
    assert "answer accepted" in answer_of(page) and "3 installments" in answer_of(page)
    assert status["status"] == "in_plan"
    assert len(status["plan"]["installments"]) == 3
    assert '<dd data-field="status">in_plan</dd>' in page.text
    shown = section(page.text, "<p data-plan>")
    for installment in status["plan"]["installments"]:
        assert installment["due_date"] in shown


async def test_a_dispute_hold_placed_from_the_page_holds_the_case(
    own_time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    async with desk_on_a_case(own_time_env, case_world) as desk:
        await desk.agent.get(f"/cases/{desk.loan_id}")
        hold = {"message_id": "hold-1", "kind": "dispute", "reason": "says the loan was repaid"}
        placed = await desk.agent.post(f"/cases/{desk.loan_id}/hold", hold)
        page = await desk.agent.get(placed.headers["location"])
        status = await status_of(desk.handle)

    assert placed.status_code == 303
    assert "answer accepted" in answer_of(page) and "dispute" in answer_of(page)
    assert status["status"] == "on_hold"
    assert [h["kind"] if isinstance(h, dict) else h for h in status["holds"]] == ["dispute"]
    assert '<dd data-field="status">on_hold</dd>' in page.text
    assert '<dd data-field="holds">dispute</dd>' in page.text


async def test_the_queue_shows_a_call_outside_the_contact_window_later_with_its_local_time(
    own_time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    async with desk_on_a_case(own_time_env, case_world) as desk:
        # The desk's clock (not the case's) moves to 21:30 in Shanghai: past the window's end.
        local_now = desk.clock.now.astimezone(BORROWER_TIMEZONE)
        evening = datetime.combine(local_now.date(), time(21, 30), tzinfo=BORROWER_TIMEZONE)
        desk.clock.now = evening.astimezone(UTC)
        queue = (await desk.agent.get("/queue")).text

    row = f'<tr data-later data-loan="{desk.loan_id}" data-attempt="{desk.attempt_id}">'
    callable_now = queue[: queue.find('data-section="later"')]
    assert f'data-loan="{desk.loan_id}"' not in callable_now
    assert row in section(queue, 'data-section="later"')
    later = queue[queue.find(row) : queue.find("</tr>", queue.find(row))]
    tomorrow = local_now.date() + timedelta(days=1)
    assert f"<td data-callable-at>{tomorrow.isoformat()} 08:00 (Asia/Shanghai)</td>" in later
