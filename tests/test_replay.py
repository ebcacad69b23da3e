"""Recorded histories of real cases replay against today's workflow code.

A change that would break running cases (non-determinism) fails here. Record new
histories with `make histories` after a deliberate, versioned change.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from workflows.collection_case import CollectionCase

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_are_recorded() -> None:
    assert len(HISTORIES) >= 3, "tests/histories/ lost its recorded cases"


@pytest.mark.parametrize("path", HISTORIES, ids=[path.stem for path in HISTORIES])
async def test_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(f"collection-{path.stem}", path.read_text())
    result = await Replayer(workflows=[CollectionCase]).replay_workflow(history)
    assert result.replay_failure is None, result.replay_failure
