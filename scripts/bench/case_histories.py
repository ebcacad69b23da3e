"""Timer lateness and activity schedule-to-start, read from the cases' histories."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from bench_cases import IN_FLIGHT, handle
from figures import (
    ReadHistory,
    schedule_to_start_ms,
    timer_due_and_lateness,
    timer_lateness_ms,
)
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

# A timer fired later than this is late: the target's bound, and what BENCH_DUMP_DIR explains.
LATE_TIMER_MS = 1000


async def read_histories(
    client: Client, loan_ids: list[str], since_ns: int = 0
) -> tuple[list[float], list[float]]:
    """Timer lateness and activity schedule-to-start (ms) over the cases' histories, of what
    was due from `since_ns` until now."""
    cutoff_ns = time.time_ns()
    slots = asyncio.Semaphore(IN_FLIGHT)

    async def read(loan_id: str) -> ReadHistory:
        async with slots:
            read_at_ns = time.time_ns()
            history = await handle(client, loan_id).fetch_history()
            return ReadHistory(history.events, read_at_ns)

    histories = await asyncio.gather(*(read(loan_id) for loan_id in loan_ids))
    lateness = [ms for h in histories for ms in timer_lateness_ms(h, cutoff_ns, since_ns)]
    waits = [ms for h in histories for ms in schedule_to_start_ms(h, cutoff_ns, since_ns)]
    if dump := os.environ.get("BENCH_DUMP_DIR"):
        dump_histories(Path(dump), histories)
    return lateness, waits


def dump_histories(folder: Path, histories: list[ReadHistory]) -> None:
    """For diagnosis (BENCH_DUMP_DIR): each timer's due time and lateness, as CSV lines; and
    each case's events, one line a case, so that where a case spent an intake (waiting for its
    first workflow task, for its first activity, or racing on) can be read from when they came."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.time_ns()
    with open(folder / f"events-{stamp}.csv", "w") as events:
        for number, h in enumerate(histories):
            kinds = (
                f"{EventType.Name(e.event_type)}@{e.event_time.ToNanoseconds()}" for e in h.events
            )
            events.write(f"{number},{';'.join(kinds)}\n")
    with (
        open(folder / f"timers-{stamp}.csv", "w") as out,
        open(folder / f"late-timers-{stamp}.txt", "w") as late,
    ):
        for number, h in enumerate(histories):
            for due_ns, late_ms in timer_due_and_lateness(h):
                out.write(f"{number},{due_ns},{late_ms:.1f}\n")
                if late_ms > LATE_TIMER_MS:
                    # What the case's history records from a second before the timer was due
                    # until it fired: what held it back.
                    fired_ns = due_ns + int(late_ms * 1e6)
                    late.write(f"history {number}: due {due_ns}, {late_ms:.0f} ms late\n")
                    for event in h.events:
                        at = event.event_time.ToNanoseconds()
                        if due_ns - 1_000_000_000 <= at <= fired_ns:
                            kind = EventType.Name(event.event_type)
                            late.write(f"  {(at - due_ns) / 1e6:+9.0f} ms {kind}\n")
