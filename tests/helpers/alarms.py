"""An alarm on the Temporal server: a workflow that sleeps until a moment, then runs one activity
with what it was given and the moment it rang.

A test that must act on real cases at stated moments of the time-skipping server's clock sets
one: the server's timer fires at the moment exactly, time skipping brings it there, and the
activity (the test's own code, in its worker) acts while the server waits for it. The module
imports nothing of the project: the workflow sandbox loads it as it is.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

# The activity an alarm runs; the test's worker registers one of this name.
RING = "test_alarm_rings"
RING_TIMEOUT = timedelta(minutes=2)


@workflow.defn(name="TestAlarm")
class Alarm:
    @workflow.run
    async def run(self, at: str, payload: dict[str, Any]) -> None:
        wait = datetime.fromisoformat(at) - workflow.now()
        if wait > timedelta(0):
            await workflow.sleep(wait, summary="until the alarm's moment")
        await workflow.execute_activity(
            RING,
            {**payload, "rang_at": workflow.now().isoformat()},
            start_to_close_timeout=RING_TIMEOUT,
        )
