"""The supervisor's page against real cases on the time-skipping server: a settlement an agent
asks for on the case page waits on the supervisor's page, and once approved shows in the case's
status and on the case page; a reassignment changes its assignee. No hour of the day matters:
neither is a contact with the borrower."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.testing import WorkflowEnvironment

from activities.store import Store
from migrations.desk_tables import DeskSettlementRequestRow
from tests.helpers.cases import end_case, start_case, status_of, status_when
from tests.helpers.databases import rows
from tests.helpers.desk import Browser, DeskClock, add_desk_users
from tests.helpers.temporal import CaseWorld, make_worker
from web.app import create_app
from web.settings import WebSettings

# 15 days past due: the `default` policy's phone collection (bucket M1) from the start.
PHONE_DPD = 15


async def test_approval_and_reassignment_reach_the_case(
    time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    store = Store.from_url(case_world.database_url)
    store.migrate()
    add_desk_users(store, {"ann": "agent", "cy": "agent", "sue": "supervisor"})

    async def client() -> Any:
        return time_env.client

    clock = DeskClock(await time_env.get_current_time())
    app = create_app(WebSettings(), store=store, clock=clock, temporal_client=client)
    browser, agent = Browser(app), Browser(app)
    due = (clock.now.date() + timedelta(days=10)).isoformat()
    async with make_worker(time_env.client, case_world):
        handle = await start_case(time_env, case_world, days_overdue=PHONE_DPD)
        loan_id = handle.id.removeprefix("collection-")
        before = await status_when(handle, lambda s: s["assignee"] is not None)
        # ann asks for the settlement on the case page: stored, nothing sent to the case yet.
        await agent.sign_in("ann")
        await agent.get(f"/cases/{loan_id}")
        form = {"message_id": "S-1", "amount": "500.00", "due_date": due, "note": "one sum"}
        asked = await agent.post(f"/cases/{loan_id}/settlement-request", form)
        asked_page = (await agent.get(asked.headers["location"])).text
        unsent = await status_of(handle)
        await browser.sign_in("sue")
        waiting = (await browser.get("/supervisor")).text
        approved = await browser.post("/supervisor/settlements/S-1/approve")
        settled = await status_when(handle, lambda s: s["settlement"] is not None)
        case_page = (await agent.get(f"/cases/{loan_id}")).text
        target = "cy" if before["assignee"] == "ann" else "ann"
        await browser.post(f"/supervisor/cases/{loan_id}/assign", {"user_name": target})
        reassigned = await status_when(handle, lambda s: s["assignee"] == target)
        page = (await browser.get("/supervisor")).text
        await end_case(handle)
    await browser.close()
    await agent.close()
    assert asked.status_code == 303
    assert "answer accepted" in asked_page and "waiting for a supervisor" in asked_page
    assert unsent["settlement"] is None
    assert 'data-settlement="S-1"' in waiting
    assert f"{loan_id}</strong>" in waiting and "asked by ann" in waiting
    assert approved.status_code == 303
    assert settled["settlement"]["settlement_id"] == "S-1"
    assert settled["settlement"]["amount_minor"] == 50_000
    [row] = rows(store, DeskSettlementRequestRow)
    assert (row.requested_by, row.decision, row.decided_by) == ("ann", "approved", "sue")
    assert f"<p data-settlement>Settlement CNY 500.00 by {due}" in case_page
    assert "from ann: approved" in case_page
    assert reassigned["assignee"] == target
    assert 'class="answer accepted"' in page
    store.dispose()
