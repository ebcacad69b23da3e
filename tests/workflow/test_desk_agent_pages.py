"""The agent's queue and case page against a real case: the time-skipping server, a worker
running the real workflow, the case database on SQLite, and the desk driven by a browser."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import time, timedelta

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.store import Store
from tests.helpers.cases import case_today, end_case, rows, rows_when, start_case, status_of
from tests.helpers.desk import Browser, DeskClock, add_desk_users
from tests.helpers.eventually import eventually
from tests.helpers.temporal import CaseWorld, advance_to_local_time, make_worker
from web.app import create_app
from web.settings import WebSettings

# Inside the default policy's contact window in the borrower's zone (Shanghai), so the call
# task queued at once is callable at once.
OPEN_AT = time(10, 0)
NAME, PHONE = "王小明", "+8613800138000"
USERS = {"agent1": "agent", "agent2": "agent", "field1": "field"}


def answer_of(page: httpx.Response) -> str:
    start = page.text.find('<p class="answer')
    assert start >= 0 and "data-answer" in page.text, "no [data-answer] on the page"
    return page.text[start : page.text.find("</p>", start)]


def assert_nothing_personal(texts: Iterable[str]) -> None:
    for text in texts:
        assert NAME not in text and PHONE not in text


async def test_an_agent_works_a_call_from_the_queue_to_a_promise(
    own_time_env: WorkflowEnvironment,
    case_world: CaseWorld,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    env = own_time_env
    store = Store.from_url(case_world.database_url)
    store.migrate()
    add_desk_users(store, USERS)
    clock = DeskClock()

    async def client() -> Client:
        return env.client

    app = create_app(WebSettings(), store=store, clock=clock, temporal_client=client)
    agent1, agent2, field1 = Browser(app), Browser(app), Browser(app)
    locations: list[str] = []
    async with make_worker(env.client, case_world):
        await advance_to_local_time(env, OPEN_AT)
        handle = await start_case(env, case_world, days_overdue=15)
        loan_id = handle.id.removeprefix("collection-")
        [(attempt_id,)] = await rows_when(case_world, "select work_item_id from work_items", 1)
        clock.now = await env.get_current_time()
        today = await case_today(env)
        for browser, name in ((agent1, "agent1"), (agent2, "agent2"), (field1, "field1")):
            await browser.sign_in(name)

        # The queue shows the call, callable now; agent1 takes it.
        queue = await agent1.get("/queue")
        assert f'data-loan="{loan_id}" data-attempt="{attempt_id}"' in queue.text
        callable_now = queue.text[: queue.text.find('data-section="later"')]
        assert f'data-loan="{loan_id}"' in callable_now
        taken = await agent1.post("/queue/take", {"loan_id": loan_id, "attempt_id": attempt_id})
        assert taken.status_code == 303
        assert taken.headers["location"] == f"/cases/{loan_id}?attempt={attempt_id}"
        locations.append(taken.headers["location"])

        # agent2 sees the borrower held, cannot take it, and cannot record the outcome.
        assert "agent1" in (await agent2.get("/queue")).text.split('data-section="held"')[1]
        refused_take = await agent2.post(
            "/queue/take", {"loan_id": loan_id, "attempt_id": attempt_id}
        )
        assert refused_take.status_code == 409 and "agent1" in refused_take.text
        await agent2.get(f"/cases/{loan_id}")
        refused = await agent2.post(
            f"/cases/{loan_id}/outcome", {"attempt_id": attempt_id, "outcome": "refused"}
        )
        assert refused.status_code == 409 and "agent1" in refused.text
        assert rows(case_world, "select status, outcome from work_items") == [("open", None)]

        # A post without the CSRF token is refused before anything is sent.
        forged = await agent1.post(
            f"/cases/{loan_id}/hold",
            {"message_id": "h-forged", "kind": "dispute", "reason": "x"},
            token="",
        )
        assert forged.status_code == 403
        assert (await status_of(handle))["holds"] == []

        # agent1 opens the case: the borrower's name and phone, the script, the conduct rules.
        page = await agent1.get(locations[0])
        assert page.status_code == 200
        assert NAME in page.text and PHONE in page.text
        assert f"{NAME}您好" in page.text and "第三方" in page.text
        assert '<dd data-field="stage">phone</dd>' in page.text
        assert_nothing_personal([page.text[: page.text.find("</title>")]])

        # An outcome the case rejects: shown, and agent1 keeps the borrower.
        unknown = await agent1.post(
            f"/cases/{loan_id}/outcome", {"attempt_id": attempt_id, "outcome": "maybe"}
        )
        page = await agent1.get(unknown.headers["location"])
        assert "answer rejected" in answer_of(page) and "outcome" in answer_of(page)
        assert "agent1" in (await agent2.get("/queue")).text.split('data-section="held"')[1]

        outcome = await agent1.post(
            f"/cases/{loan_id}/outcome",
            {"attempt_id": attempt_id, "outcome": "promised", "note": "will pay"},
        )
        assert outcome.status_code == 303
        locations.append(outcome.headers["location"])
        page = await agent1.get(outcome.headers["location"])
        assert "answer accepted" in answer_of(page) and "promised" in answer_of(page)
        # The case writes its records a moment after answering.
        await eventually(
            lambda: rows(case_world, "select status, outcome from work_items"),
            lambda found: found == [("done", "promised")],
        )
        # The outcome ended agent1's claim: the borrower is free for agent2 again.
        assert "agent1" not in (await agent2.get("/queue")).text.split('data-section="held"')[1]

        # A promise too far ahead: the case's rejection, shown; nothing changes.
        far = {
            "message_id": "p-far",
            "amount": "1000.00",
            "due_date": (today + timedelta(days=60)).isoformat(),
        }
        rejected = await agent1.post(f"/cases/{loan_id}/promise", far)
        locations.append(rejected.headers["location"])
        page = await agent1.get(rejected.headers["location"])
        assert "answer rejected" in answer_of(page) and "due_date" in answer_of(page)
        after = await status_of(handle)
        assert after["promise"] is None and after["status"] == "active"

        promise = {"message_id": "p-1", "amount": "1000.00", "due_date": today.isoformat()}
        promised = await agent1.post(f"/cases/{loan_id}/promise", promise)
        locations.append(promised.headers["location"])
        page = await agent1.get(promised.headers["location"])
        assert "answer accepted" in answer_of(page)
        assert '<dd data-field="status">promise_pending</dd>' in page.text
        status = await status_of(handle)
        assert status["status"] == "promise_pending"
        assert status["promise"]["amount_minor"] == 100_000

        # The plan calculator: a schedule, and a plan too long refused naming the field.
        preview = {"count": "3", "first_due": today.isoformat(), "interval": "monthly"}
        quoted = await agent1.post(f"/cases/{loan_id}/plan/preview", preview)
        assert quoted.text.count("data-installment") == 3 and "data-refusal" not in quoted.text
        too_long = await agent1.post(f"/cases/{loan_id}/plan/preview", {**preview, "count": "40"})
        assert 'data-refusal data-field="installments"' in too_long.text
        assert 'data-input="count"' in too_long.text

        await end_case(handle)

    views = rows(case_world, "select user_name, loan_id, page from desk_views")
    assert ("agent1", loan_id, "case") in views
    assert_nothing_personal(locations)
    assert_nothing_personal(record.getMessage() for record in caplog.records)
    for browser in (agent1, agent2, field1):
        await browser.close()
    store.dispose()
