"""The supervisor's page against real cases on the time-skipping server: an approved settlement
shows in the case's status, a reassignment changes its assignee. No hour of the day matters:
neither is a contact with the borrower."""

from __future__ import annotations

from typing import Any

from temporalio.testing import WorkflowEnvironment

from activities.store import Store
from migrations.desk_tables import DeskSettlementRequestRow
from tests.helpers import desk_rows
from tests.helpers.cases import end_case, start_case, status_when
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
    browser = Browser(app)
    async with make_worker(time_env.client, case_world):
        handle = await start_case(time_env, case_world, days_overdue=PHONE_DPD)
        loan_id = handle.id.removeprefix("collection-")
        before = await status_when(handle, lambda s: s["assignee"] is not None)
        desk_rows.add_settlement_request(store, "S-1", loan_id, at=clock.now)  # by alice
        await browser.sign_in("sue")
        await browser.get("/supervisor")
        approved = await browser.post("/supervisor/settlements/S-1/approve")
        settled = await status_when(handle, lambda s: s["settlement"] is not None)
        target = "cy" if before["assignee"] == "ann" else "ann"
        await browser.post(f"/supervisor/cases/{loan_id}/assign", {"user_name": target})
        reassigned = await status_when(handle, lambda s: s["assignee"] == target)
        page = (await browser.get("/supervisor")).text
        await end_case(handle)
    await browser.close()
    assert approved.status_code == 303
    assert settled["settlement"]["settlement_id"] == "S-1"
    assert settled["settlement"]["amount_minor"] == 50_000
    [row] = rows(store, DeskSettlementRequestRow)
    assert (row.decision, row.decided_by) == ("approved", "sue")
    assert reassigned["assignee"] == target
    assert 'class="answer accepted"' in page
    store.dispose()
