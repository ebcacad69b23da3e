"""Routing on the time-skipping server: a case started without a policy is collected under the
one the routing file chooses, within an experiment under its arm's, and shows the choice in
`status.strategy`, in the `CollectionArm` search attribute and in its case-database row; a
case that names its policy keeps it. No hour of the day matters: nothing here is a contact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain.routing import CHALLENGER, CHAMPION, arm_of
from tests.helpers.cases import end_case, rows_when, start_case, status_when
from tests.helpers.histories import save_history
from tests.helpers.temporal import CaseWorld, make_worker
from workflows import search_attributes as attrs

EXPERIMENT = "firm-early"
SHARE = 0.5
ROUTING = f"""
[[route]]
when = {{ portfolio = "card" }}
policy = "us-reg-f"

[[route]]
when = {{ portfolio = "consumer", min_amount_minor = 100000 }}
experiment = "{EXPERIMENT}"
champion = "default"
challenger = "cn-online-lending"
challenger_share = {SHARE}
"""


def loan_in(arm: str) -> str:
    """A loan id that the experiment puts in `arm`."""
    return next(
        loan_id
        for index in range(1000)
        if arm_of(EXPERIMENT, loan_id := f"L-route-{index}", SHARE) == arm
    )


async def arm_attribute(handle: WorkflowHandle[Any, Any]) -> str | None:
    description = await handle.describe()
    return description.typed_search_attributes.get(attrs.ARM)


@pytest.fixture
def routing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "routing.toml"
    path.write_text(ROUTING)
    monkeypatch.setenv("COLLECTIONS_ROUTING", str(path))
    return path


async def test_routing_chooses_the_policy_and_the_arm_once_and_shows_them(
    time_env: WorkflowEnvironment, case_world: CaseWorld, routing_file: Path
) -> None:
    challenger_loan, champion_loan = loan_in(CHALLENGER), loan_in(CHAMPION)
    async with make_worker(time_env.client, case_world):
        challenger = await start_case(time_env, case_world, loan_id=challenger_loan, policy=None)
        champion = await start_case(time_env, case_world, loan_id=champion_loan, policy=None)
        card = await start_case(time_env, case_world, portfolio="card", policy=None)
        small = await start_case(time_env, case_world, overdue_amount_minor=500, policy=None)
        named = await start_case(time_env, case_world, policy="demo")
        handles = [challenger, champion, card, small, named]
        prepared = [await status_when(h, lambda s: s["stage"] != "preparation") for h in handles]
        arms = [await arm_attribute(h) for h in handles]
        stored = await rows_when(
            case_world,
            "select loan_id, policy, experiment, arm from cases "
            f"where loan_id in ('{challenger_loan}', '{champion_loan}')",
            2,
        )
        # The file changes: a prepared case keeps its choice (its later runs read its row).
        routing_file.write_text('[[route]]\npolicy = "demo"\n')
        await save_history(challenger, "routed_into_experiment")
        for handle in handles:
            await end_case(handle)
    strategies = [status["strategy"] for status in prepared]
    assert strategies == [
        {"policy": "cn-online-lending", "experiment": EXPERIMENT, "arm": CHALLENGER},
        {"policy": "default", "experiment": EXPERIMENT, "arm": CHAMPION},
        {"policy": "us-reg-f", "experiment": None, "arm": None},
        # Below the experiment's minimum amount no rule matches: `default`.
        {"policy": "default", "experiment": None, "arm": None},
        # A policy named in the start input wins over every rule.
        {"policy": "demo", "experiment": None, "arm": None},
    ]
    assert [status["policy"] for status in prepared] == [s["policy"] for s in strategies]
    assert arms == [f"{EXPERIMENT}:{CHALLENGER}", f"{EXPERIMENT}:{CHAMPION}", None, None, None]
    assert sorted(tuple(row) for row in stored) == sorted(
        [
            (challenger_loan, "cn-online-lending", EXPERIMENT, CHALLENGER),
            (champion_loan, "default", EXPERIMENT, CHAMPION),
        ]
    )
