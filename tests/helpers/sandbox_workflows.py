"""Two small workflows for the sandbox's tests: one well behaved, one reading the wall clock.

Kept apart from the tests: the sandbox imports a workflow's module afresh for each run, and
this one imports nothing but the SDK and the standard library.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow


@workflow.defn(name="ReadsTheWallClock")
class ReadsTheWallClock:
    @workflow.run
    async def run(self) -> str:
        return datetime.now().isoformat()  # what the sandbox exists to refuse


@workflow.defn(name="SaysHello")
class SaysHello:
    @workflow.run
    async def run(self, name: str) -> str:
        return f"hello {name} at {workflow.now():%Y}"
