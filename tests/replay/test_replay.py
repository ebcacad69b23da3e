"""Recorded histories of real cases replay against today's workflow code.

A change that would break running cases (non-determinism) fails here. Histories accumulate:
`make histories` adds those of today's code beside the older ones (named `name@codehash`),
never overwriting them, because running cases may still be on any earlier version.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from tests.helpers.paths import HISTORY_DIR
from workflows.collection_case import CollectionCase

HISTORIES = sorted(HISTORY_DIR.glob("*.json"))


def test_histories_are_recorded() -> None:
    kinds = {path.stem.split("@")[0] for path in HISTORIES}
    assert {
        "unpaid_written_off",
        "paid_after_first_sms",
        "payments_by_signal",
        "agent_outcome_dispute",
        "legal_event",
        "hold_and_release",
        "promise_kept_then_broken",
        "plan_completed",
        "plan_broken",
        "callback_requested",
    } <= kinds, "tests/histories/ lost its recorded cases"


@pytest.mark.parametrize("path", HISTORIES, ids=[path.stem for path in HISTORIES])
async def test_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(f"collection-{path.stem}", path.read_text())
    result = await Replayer(workflows=[CollectionCase]).replay_workflow(history)
    assert result.replay_failure is None, result.replay_failure


@workflow.defn(name="CollectionCase", sandboxed=False)
class CollectionCaseThatSkipsPreparation:
    """A careless change: the case no longer runs its preparation activity first."""

    @workflow.run
    async def run(self, case: dict[str, Any]) -> dict[str, Any]:
        await workflow.sleep(timedelta(days=1))
        return {}


async def test_replay_catches_a_change_that_would_break_running_cases() -> None:
    path = next(path for path in HISTORIES if path.stem.startswith("paid_after_first_sms@"))
    history = WorkflowHistory.from_json(f"collection-{path.stem}", path.read_text())
    result = await Replayer(workflows=[CollectionCaseThatSkipsPreparation]).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert isinstance(result.replay_failure, NondeterminismError)


async def test_the_completion_audit_replays_only_because_it_is_patched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`audit-case-completed` added an activity at the end of every case. Histories recorded
    before it replay because `workflow.patched` guards it; without the guard they break."""
    from temporalio.worker import UnsandboxedWorkflowRunner

    # Recorded by the code as it was just before the change.
    old = [p for p in HISTORIES if p.stem == "paid_after_first_sms@14e75296"]
    assert old, "the history recorded before the change is kept"
    history = WorkflowHistory.from_json("collection-old", old[0].read_text())
    guarded = await Replayer(
        workflows=[CollectionCase], workflow_runner=UnsandboxedWorkflowRunner()
    ).replay_workflow(history, raise_on_replay_failure=False)
    assert guarded.replay_failure is None
    monkeypatch.setattr(workflow, "patched", lambda patch_id: True)
    unguarded = await Replayer(
        workflows=[CollectionCase], workflow_runner=UnsandboxedWorkflowRunner()
    ).replay_workflow(history, raise_on_replay_failure=False)
    assert isinstance(unguarded.replay_failure, NondeterminismError)
