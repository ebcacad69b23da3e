"""The simulator is faithful to the real case: the same 50 loans, borrowers and seed, run through
the real `CollectionCase` on the time-skipping server (with the real activities on SQLite) and
through `domain.simulation`, come to the same contacts (channel, template, result and moment),
the same payments, commitments and holds, and the same final states.

The real cases meet the simulator's own borrowers (`tests.helpers.simulated_borrowers`): each
answer comes at the contact's moment plus the behaviour's delay, set as a timer on the server,
and goes in through the contract's updates. Moments agree to within a minute: a real contact
is recorded a few milliseconds after its decided moment, and an answer the driver sends while
the server's clock runs on lands a little after the simulated one.

The run starts at 09:00 in Shanghai, whatever the hour the test runs at; nothing happens within
an hour of that hour of the day (contacts go out at 08:00, answers come hours after them), so
the end of the run after 180 days cuts no event in two. The loans accrue no penalty: a
borrower reads what is owed off the `status` query, which states the debt as of the case's
latest decision, while the simulated borrower reads what is owed on the day.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.case_activities import CollectionActivities
from cli.simulate import BEHAVIOURS_FILE, load_behaviours
from domain.case import parse_case_input
from domain.simulation.portfolio import Loan, LoanRun, PortfolioRun
from policies import load_policy
from tests.helpers.cases import case_input, status_of
from tests.helpers.simulated_borrowers import BorrowersOnCases
from tests.helpers.temporal import CaseWorld, advance_to_local_time
from tests.helpers.workers import worker_with
from workflows.collection_case import CollectionCase

SEED = 18
DAYS = 180
START = time(9, 0)
MOMENTS_AGREE_WITHIN = timedelta(seconds=60)
SEGMENTS = (
    "default",
    "pays_after_reminder",
    "default",
    "pays_in_parts",
    "partial_then_stops",
    "default",
    "never_pays",
    "disputes",
    "default",
    "keeps_promise",
    "breaks_promises",
    "default",
    "completes_plan",
    "breaks_plan",
    "settles",
    "default",
)
DAYS_OVERDUE = (0, 2, 6, 12, 20, 33, 38, 45, 58, 3, 9)
# One borrower with two loans due a day apart, neither answered: each loan's re-booked visit
# falls on the day of the other loan's visit, and is deferred by the daily cap on visits,
# counted over both loans (by the contact activity, as the simulator counts it). Neither has a
# step due at the opening, nor two steps on one channel a day apart: two contacts of one
# borrower in the same instant would go out in whichever order the worker takes them.
SHARED_BORROWER = "B-shared"
SHARED_DAYS_OVERDUE = (1, 0)


def portfolio(start: datetime, policy: str) -> list[tuple[dict[str, Any], str]]:
    """48 loans of their own borrowers, a sixth of them in New York, some without an email or
    an address, in every segment of the shipped behaviours; and the shared borrower's two."""
    loans = []
    for number in range(48):
        zone = "America/New_York" if number % 6 == 5 else "Asia/Shanghai"
        today = start.astimezone(ZoneInfo(zone)).date()
        borrower = {
            "borrower_id": f"B-{number:03d}",
            "phone": f"+86138{number:08d}" if zone == "Asia/Shanghai" else f"+1202555{number:04d}",
            "timezone": zone,
            "locale": "zh-CN" if zone == "Asia/Shanghai" else "en",
        }
        if number % 9 != 4:
            borrower["email"] = f"b{number}@example.com"
        if number % 13 != 7:
            borrower["address"] = f"{number} Example Road"
        loans.append(
            (
                case_input(
                    today - timedelta(days=DAYS_OVERDUE[number % len(DAYS_OVERDUE)]),
                    loan_id=f"L-{number:03d}",
                    borrower=borrower,
                    currency="CNY" if zone == "Asia/Shanghai" else "USD",
                    overdue_amount_minor=50_000 + 7_919 * number,
                    policy=policy,
                ),
                SEGMENTS[number % len(SEGMENTS)],
            )
        )
    shanghai_today = start.astimezone(ZoneInfo("Asia/Shanghai")).date()
    for number, days in enumerate(SHARED_DAYS_OVERDUE):
        due = shanghai_today - timedelta(days=days)
        shared = case_input(due, loan_id=f"L-shared-{number}", policy=policy)
        shared["borrower"]["borrower_id"] = SHARED_BORROWER
        loans.append((shared, "never_pays"))
    return loans


@pytest.mark.parametrize("policy_name", ["default", "firm"])
async def test_the_simulator_and_the_real_workflow_agree_on_50_loans(
    policy_name: str,
    own_time_env: WorkflowEnvironment,
    case_world: CaseWorld,
    real_activities: CollectionActivities,
) -> None:
    env = own_time_env
    await advance_to_local_time(env, START)
    start = (await env.get_current_time()).astimezone(UTC)
    inputs = portfolio(start, policy_name)
    loans = [Loan(parse_case_input(raw, now=start), segment) for raw, segment in inputs]
    policy, behaviours = load_policy(policy_name), load_behaviours(BEHAVIOURS_FILE)
    borrowers = BorrowersOnCases(
        env.client, case_world.task_queue, loans, policy, behaviours, seed=SEED, opened_at=start
    )
    stand_ins, ring = borrowers.activities(real_activities)
    worker = worker_with(
        env, case_world, real_activities, *stand_ins, also=ring, workflows=borrowers.workflows()
    )
    async with worker:
        handles = [
            await env.client.start_workflow(
                CollectionCase.run,
                raw,
                id=f"collection-{raw['loan_id']}",
                task_queue=case_world.task_queue,
            )
            for raw, _ in inputs
        ]
        # A day at a time: one long sleep of the test server loses its connection.
        # A day at a time: one sleep of months loses the test server's connection.
        for day in range(1, DAYS + 1):
            await env.sleep(start + timedelta(days=day) - await env.get_current_time())
        real = {handle.id: await status_of(handle) for handle in handles}

    run = PortfolioRun(loans, policy, behaviours, seed=SEED, start=start, days=DAYS)
    simulated = run.run()
    assert borrowers.refused == [] and run.refused == 0
    differences = {
        loan.case.state.case.loan_id: found
        for loan in simulated
        if (found := disagreements(real[f"collection-{loan.case.state.case.loan_id}"], loan))
    }
    assert differences == {}
    covers_the_rules(simulated)


def disagreements(real: dict[str, Any], loan: LoanRun) -> list[str]:
    """How the real case's status differs from the simulated case's (none: they agree)."""
    simulated = loan.case.state.status_view(0)
    found = [
        f"{key}: real {real[key]!r}, simulated {simulated[key]!r}"
        for key in (
            "status",
            "stage",
            "outstanding_minor",
            "paid_minor",
            "overpaid_minor",
            "broken_promises",
            "promise",
            "plan",
            "settlement",
            "legal",
        )
        if real[key] != simulated[key]
    ]
    for part, fields, moment in (
        ("contacts", ("channel", "template", "result"), "at"),
        ("payments", ("payment_id", "amount_minor"), "at"),
        # A hold the case places itself is named after the call, whose id holds the run's id.
        ("holds", ("kind",), "placed_at"),
    ):
        ours = [(*(item[f] for f in fields), _moment(item[moment])) for item in simulated[part]]
        theirs = [(*(item[f] for f in fields), _moment(item[moment])) for item in real[part]]
        if not _same(theirs, ours):
            found.append(f"{part}: real {theirs}, simulated {ours}")
    return found


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _same(real: list[tuple[Any, ...]], simulated: list[tuple[Any, ...]]) -> bool:
    """The same records in the same order, at moments within MOMENTS_AGREE_WITHIN."""
    return len(real) == len(simulated) and all(
        theirs[:-1] == ours[:-1] and abs(theirs[-1] - ours[-1]) <= MOMENTS_AGREE_WITHIN
        for theirs, ours in zip(real, simulated, strict=True)
    )


def covers_the_rules(simulated: list[LoanRun]) -> None:
    """The loans meet what the agreement is about: every way a case ends, commitments kept and
    broken, holds, people's outcomes, contacts nobody could receive, and a contact deferred by a
    cap counted over two loans of one borrower."""
    states = [loan.case.state for loan in simulated]
    assert {s.status for s in states} >= {"paid", "plan_completed", "settled", "written_off"}
    assert any(s.broken_promises for s in states) and any(s.holds for s in states)
    results = {c.result for s in states for c in s.contacts}
    assert results >= {"reached", "no_answer", "promised", "not_home", "skipped_no_contact"}
    shared = [s for s in states if s.case.borrower.borrower_id == SHARED_BORROWER]
    assert all(s.unsent for s in shared), "the shared borrower's visits were never deferred"
    assert any(0 < s.paid_minor < s.case.overdue_amount_minor for s in states)
