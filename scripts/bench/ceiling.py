"""The server's ceiling: a workflow that runs one no-op activity and ends.

In a module of its own because the workflow sandbox re-imports a workflow's module.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

WORKFLOW_TYPE = "BenchNoop"


@activity.defn(name="bench_noop")
async def noop() -> None:
    """Does nothing."""


@workflow.defn(name=WORKFLOW_TYPE)
class NoopWorkflow:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(noop, start_to_close_timeout=timedelta(seconds=60))
