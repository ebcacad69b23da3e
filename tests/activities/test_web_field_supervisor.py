"""The field staff's page and the supervisor's page through the ASGI app, on SQLite and
PostgreSQL, with a stand-in Temporal client that records what the pages send to cases (the
real cases answer in tests/workflow/test_web_supervisor_cases.py)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from activities.store import Store
from migrations.desk_tables import DeskSettlementRequestRow, DeskViewRow
from tests.helpers import desk_rows
from tests.helpers.databases import rows
from tests.helpers.desk import Browser, DeskClock, add_desk_users
from web.app import create_app
from web.settings import WebSettings

USERS = {
    "field1": "field",
    "field2": "field",
    "field3": "field",
    "agent1": "agent",
    "alice": "supervisor",
    "super1": "supervisor",
}


@dataclass
class FakeCases:
    """Cases as the pages see them: each update is recorded and answered, or refused with
    `refuse` (an ApplicationError's message)."""

    sent: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    refuse: str | None = None
    stage: str = "phone"

    def get_workflow_handle(self, workflow_id: str) -> FakeHandle:
        return FakeHandle(self, workflow_id)


@dataclass
class FakeHandle:
    cases: FakeCases
    workflow_id: str

    async def execute_update(self, update: str, arg: dict[str, Any], **_: Any) -> dict[str, Any]:
        if self.cases.refuse is not None:
            raise WorkflowUpdateFailedError(ApplicationError(self.cases.refuse, type="Invalid"))
        self.cases.sent.append((self.workflow_id, update, arg))
        return {"status": "recorded"}

    async def query(self, name: str, **_: Any) -> dict[str, Any]:
        return {"stage": self.cases.stage}


@pytest.fixture
def cases() -> FakeCases:
    return FakeCases()


@pytest.fixture
async def browser(store: Store, cases: FakeCases) -> AsyncIterator[Any]:
    add_desk_users(store, USERS)
    clock = DeskClock(desk_rows.NOW)

    async def client() -> Any:
        return cases

    app = create_app(WebSettings(), store=store, clock=clock, temporal_client=client)
    opened: list[Browser] = []

    async def signed_in(user_name: str) -> Browser:
        opened.append(Browser(app))
        await opened[-1].sign_in(user_name)
        return opened[-1]

    yield signed_in
    for one in opened:
        await one.close()


def field_case(store: Store) -> None:
    """A field-visit case (M2) of field1, whose partner is field2; a visit today at 14:00 in
    Shanghai and one tomorrow."""
    case = desk_rows.add_case(store, "L-V", stage="field_visit", due_date=desk_rows.DUE_M2)
    desk_rows.assign(store, "L-V", "field1", team="field:M2", at=desk_rows.NOW - timedelta(days=3))
    desk_rows.add_visit(store, case, "V-today", at=desk_rows.NOW + timedelta(hours=2))
    desk_rows.add_visit(store, case, "V-tomorrow", at=desk_rows.NOW + timedelta(days=1))


async def test_the_pair_sees_todays_visit_and_each_card_is_a_recorded_view(
    browser, store, caplog
) -> None:
    field_case(store)
    caplog.set_level(logging.DEBUG)
    for user_name in ("field1", "field2"):
        page = await (await browser(user_name)).get("/visits")
        assert page.status_code == 200
        assert 'data-visit="V-today"' in page.text and "V-tomorrow" not in page.text
        assert "Address of B-L-V" in page.text and "field1 and" in page.text
        assert "field2" in page.text and "44 (M2)" in page.text and "field_visit" in page.text
        assert 'name="viewport"' in page.text and 'data-form="visit-outcome"' in page.text
    views = rows(store, DeskViewRow)
    assert sorted((v.user_name, v.loan_id, v.page) for v in views) == [
        ("field1", "L-V", "visit"),
        ("field2", "L-V", "visit"),
    ]
    # No personal data in the URLs the page links to, nor in the logs.
    assert "B-L-V" not in caplog.text
    third = await (await browser("field3")).get("/visits")
    assert "V-today" not in third.text and "No visits today" in third.text


async def test_the_visit_outcome_is_sent_and_the_answer_shown_after_the_redirect(
    browser, store, cases
) -> None:
    field_case(store)
    field2 = await browser("field2")
    await field2.get("/visits")
    answer = await field2.post("/visits/V-today/outcome", {"outcome": "met", "note": "ok"})
    assert (answer.status_code, answer.headers["location"]) == (303, "/visits")
    assert "B-L-V" not in answer.headers["location"]
    assert cases.sent == [
        (
            "collection-L-V",
            "record_visit_outcome",
            {"visit_id": "V-today", "outcome": "met", "note": "ok", "source": "field2"},
        )
    ]
    page = await field2.get("/visits")
    assert 'data-answer class="answer accepted"' in page.text and "recorded" in page.text
    assert "data-answer" not in (await field2.get("/visits")).text  # shown once
    cases.refuse = "outcome: must be one of met, not_home, moved, refused, paid_on_site"
    await field2.post("/visits/V-today/outcome", {"outcome": "lost"})
    page = await field2.get("/visits")
    assert 'class="answer rejected"' in page.text and "outcome: must be one of" in page.text


async def test_someone_not_of_the_pair_cannot_record_the_outcome(browser, store, cases) -> None:
    field_case(store)
    field3 = await browser("field3")
    await field3.get("/visits")
    refused = await field3.post("/visits/V-today/outcome", {"outcome": "met"})
    assert refused.status_code == 403 and cases.sent == []
    missing = await field3.post("/visits/V-nothing/outcome", {"outcome": "met"})
    assert missing.status_code == 403 and cases.sent == []


async def test_pages_of_other_roles_are_refused(browser) -> None:
    field1 = await browser("field1")
    for path in ("/supervisor", "/queue"):
        assert (await field1.get(path)).status_code == 403
    assert (await (await browser("agent1")).get("/supervisor")).status_code == 403
    assert (await (await browser("super1")).get("/visits")).status_code == 403


async def test_the_supervisor_sees_the_figures(browser, store) -> None:
    case = desk_rows.add_case(store, "L-1")
    desk_rows.add_call_task(
        store,
        case,
        "A-1",
        due_at=desk_rows.NOW - timedelta(hours=5),
        created_at=desk_rows.NOW - timedelta(hours=9),
    )
    at = desk_rows.NOW - timedelta(hours=1)
    desk_rows.add_event(
        store, case, "contact_outcome", "A-0", at, outcome="reached", source="agent1"
    )
    desk_rows.add_event(store, case, "promise_made", "P-1", at, source="agent1")
    page = (await (await browser("super1")).get("/supervisor")).text
    m1 = page.split('data-bucket="M1"')[1].split("</tr>")[0]
    assert '"open_calls">1<' in m1 and '"oldest_overdue_by">5 h' in m1
    agent = page.split('data-agent="agent1"')[1].split("</tr>")[0]
    assert '"calls">1<' in agent and '"right_party_contacts">1<' in agent
    assert '"promises_taken">1<' in agent
    week = (await (await browser("super1")).get("/supervisor?days=7")).text
    assert "the last 7 days" in week


async def test_approval_sends_the_settlement_and_records_the_decision(
    browser, store, cases
) -> None:
    desk_rows.add_case(store, "L-1")
    desk_rows.add_settlement_request(store, "S-1", "L-1", at=desk_rows.NOW)
    supervisor = await browser("super1")
    page = await supervisor.get("/supervisor")
    assert 'data-settlement="S-1"' in page.text and "CNY 500.00" in page.text
    answer = await supervisor.post("/supervisor/settlements/S-1/approve")
    assert answer.status_code == 303
    [(workflow, update, arg)] = cases.sent
    assert (workflow, update) == ("collection-L-1", "agree_settlement")
    assert arg == {
        "settlement_id": "S-1",
        "amount_minor": 50_000,
        "due_date": "2026-12-13",
        "source": "super1",
    }
    [row] = rows(store, DeskSettlementRequestRow)
    assert (row.decision, row.decided_by) == ("approved", "super1") and "recorded" in row.answer
    page = await supervisor.get("/supervisor")
    assert 'class="answer accepted"' in page.text and 'data-settlement="S-1"' not in page.text
    await supervisor.post("/supervisor/settlements/S-1/approve")  # decided: nothing more sent
    assert len(cases.sent) == 1


async def test_a_refused_settlement_stays_pending_with_the_cases_answer(
    browser, store, cases
) -> None:
    desk_rows.add_case(store, "L-1")
    desk_rows.add_settlement_request(store, "S-1", "L-1", at=desk_rows.NOW)
    cases.refuse = "due_date: must be within 30 days"
    supervisor = await browser("super1")
    await supervisor.get("/supervisor")
    await supervisor.post("/supervisor/settlements/S-1/approve")
    [row] = rows(store, DeskSettlementRequestRow)
    assert row.decision == "" and "due_date: must be within 30 days" in row.answer
    page = (await supervisor.get("/supervisor")).text
    assert 'data-settlement="S-1"' in page and 'data-field="case-answer"' in page
    await supervisor.post("/supervisor/settlements/S-1/reject")
    [row] = rows(store, DeskSettlementRequestRow)
    assert (row.decision, row.decided_by) == ("rejected", "super1")


async def test_reject_sends_nothing_and_the_maker_cannot_check(browser, store, cases) -> None:
    desk_rows.add_case(store, "L-1")
    desk_rows.add_settlement_request(store, "S-1", "L-1", at=desk_rows.NOW)  # by alice
    alice = await browser("alice")
    await alice.get("/supervisor")
    await alice.post("/supervisor/settlements/S-1/approve")
    assert cases.sent == []
    [row] = rows(store, DeskSettlementRequestRow)
    assert row.decision == ""
    page = (await alice.get("/supervisor")).text
    assert 'class="answer rejected"' in page and "maker-checker" in page
    await alice.post("/supervisor/settlements/S-1/reject")
    [row] = rows(store, DeskSettlementRequestRow)
    assert (row.decision, row.decided_by, cases.sent) == ("rejected", "alice", [])


async def test_reassignment_is_checked_then_sent(browser, store, cases) -> None:
    desk_rows.add_case(store, "L-1")
    supervisor = await browser("super1")
    page = await supervisor.get("/supervisor")
    assert 'data-form="assign"' in page.text
    for target, why in [("field1", "needs a user of role"), ("ghost", "not a desk user")]:
        await supervisor.post("/supervisor/cases/L-1/assign", {"user_name": target})
        assert why in (await supervisor.get("/supervisor")).text and cases.sent == []
    await supervisor.post(
        "/supervisor/cases/L-1/assign", {"user_name": "agent1", "message_id": "m-1"}
    )
    assert cases.sent == [
        (
            "collection-L-1",
            "assign_collector",
            {"message_id": "m-1", "user_name": "agent1", "source": "super1"},
        )
    ]


async def test_a_form_without_csrf_is_refused_and_nothing_changes(browser, store, cases) -> None:
    field_case(store)
    desk_rows.add_settlement_request(store, "S-1", "L-V", at=desk_rows.NOW)
    field1 = await browser("field1")
    await field1.get("/visits")
    refused = await field1.post("/visits/V-today/outcome", {"outcome": "met"}, token="")
    assert refused.status_code == 403
    supervisor = await browser("super1")
    await supervisor.get("/supervisor")
    for path in ("/supervisor/settlements/S-1/approve", "/supervisor/settlements/S-1/reject"):
        assert (await supervisor.post(path, token="")).status_code == 403
    assert cases.sent == []
    assert [row.decision for row in rows(store, DeskSettlementRequestRow)] == [""]
