"""prepare_case routes a case without a policy of its own, once: a retry or a later run of the
case answers the first choice from the case's row, whatever the routing file says by then."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from activities.case_activities import CollectionActivities
from activities.notify import WebhookNotifier
from activities.store import Store
from domain.routing import CHALLENGER, Strategy, arm_of
from migrations.tables import CaseRow
from tests.helpers.activity_requests import case_input, prepare_request
from tests.helpers.databases import rows

EXPERIMENT = "firm-early"
EXPERIMENT_FILE = f"""
[[route]]
experiment = "{EXPERIMENT}"
champion = "default"
challenger = "cn-online-lending"
challenger_share = 0.5
"""


@pytest.fixture
def routing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "routing.toml"
    path.write_text(EXPERIMENT_FILE)
    monkeypatch.setenv("COLLECTIONS_ROUTING", str(path))
    return path


def challenger_loan() -> str:
    return next(
        loan_id
        for index in range(1000)
        if arm_of(EXPERIMENT, loan_id := f"L-prep-{index}", 0.5) == CHALLENGER
    )


def test_a_routed_case_keeps_its_first_choice(
    store: Store, tmp_path: Path, routing_file: Path
) -> None:
    activities = CollectionActivities(store, tmp_path, WebhookNotifier({}))
    request = prepare_request(
        case=case_input(loan_id=challenger_loan(), policy_given=False, segment="salaried")
    )
    first = activities.prepare_case(request)
    routing_file.write_text('[[route]]\npolicy = "demo"\n')
    again = activities.prepare_case(request)

    chosen = Strategy("cn-online-lending", EXPERIMENT, CHALLENGER)
    assert first.strategy == again.strategy == chosen
    assert first.policy.name == again.policy.name == "cn-online-lending"
    [row] = rows(store, CaseRow)
    assert (row.policy, row.segment, row.experiment, row.arm) == (
        "cn-online-lending",
        "salaried",
        EXPERIMENT,
        CHALLENGER,
    )


def test_a_named_policy_is_kept_and_a_broken_file_holds_preparation(
    store: Store, tmp_path: Path, routing_file: Path
) -> None:
    activities = CollectionActivities(store, tmp_path, WebhookNotifier({}))
    named = activities.prepare_case(prepare_request(case=case_input(policy="demo")))
    assert named.strategy == Strategy("demo")

    routing_file.write_text('[[route]]\npolicy = "no-such-policy"\n')
    routed = prepare_request(case_id="case-2", case=case_input(loan_id="L-2", policy_given=False))
    with pytest.raises(ApplicationError) as raised:
        activities.prepare_case(routed)
    # Retryable: the operator fixes the file and the retry routes the case.
    assert raised.value.type == "InvalidPolicyFile"
    assert not raised.value.non_retryable
    assert "route[0].policy" in str(raised.value)
    routing_file.write_text('[[route]]\npolicy = "demo"\n')
    assert activities.prepare_case(replace(routed)).strategy == Strategy("demo")
