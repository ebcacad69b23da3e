"""The worker's tuning from the environment, on the time-skipping test server's client."""

from __future__ import annotations

import pytest
from temporalio.testing import WorkflowEnvironment

import worker
from tests.helpers.temporal import CaseWorld


async def test_worker_tuning_comes_from_the_environment(
    time_env: WorkflowEnvironment, case_world: CaseWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKER_ACTIVITY_THREADS", "3")
    monkeypatch.setenv("WORKER_WORKFLOW_POLLERS", "2")
    monkeypatch.setenv("WORKER_CACHED_CASES", "50")
    config = worker.create_worker(time_env.client).config()
    assert config["max_concurrent_activities"] == 3
    assert config["max_concurrent_workflow_task_polls"] == 2
    # Two of five workflow pollers fetch new cases (the SDK default gives them one).
    assert config["nonsticky_to_sticky_poll_ratio"] == 0.5
    assert config["max_cached_workflows"] == 50
    monkeypatch.setenv("WORKER_WORKFLOW_TASKS", "lots")
    with pytest.raises(ValueError, match=r"^WORKER_WORKFLOW_TASKS: must be a whole number"):
        worker.create_worker(time_env.client)
