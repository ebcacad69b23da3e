"""Two small workflows for the sandbox's tests: one well behaved, one reading the wall clock.

Kept apart from the tests: the sandbox imports a workflow's module afresh for each run, and
this one imports nothing but the SDK and the standard library.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

from workflows.definition import defn_checked_once


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


@defn_checked_once(name="CountsSignals")
class CountsSignals:
    """Checked once like the case, but with a handler of its own in this (sandboxed) module:
    the sandbox's copy of the class is checked again, since its handler is not the one
    checked outside."""

    def __init__(self) -> None:
        self.count = 0

    @workflow.signal
    def counted(self) -> None:
        self.count += 1

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.count > 0)
        return self.count
