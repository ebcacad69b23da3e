"""10,000 open cases on time: a portfolio asleep, and the day's work beside it.

BENCH_OPEN_CASES `default` cases (real days) are opened and each prepared and asleep until its
first reminder days away, as most of a real portfolio is. Then, for STREAM_SECONDS, a stream
arrives beside them as it would on a working day: `demo` cases (a day is 2 s, so their timers
are seconds long) opened at STREAM_CASES_PER_S, and payments to the open cases at
BENCH_PAYMENT_RATE per second. Measured: how late the stream's timers fire (p99 ≤ 1 s) and
how long a payment takes to be answered (p99 ≤ 150 ms), with the whole portfolio open.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from bench_cases import days_ago, rounded, start_cases
from case_histories import LATE_TIMER_MS, read_histories
from cases_worker import cases_worker_running, described
from dev_server import PAYMENT_RATE_PER_S, Server, start_dev_server
from figures import percentile
from intake import open_quiet_cases
from payment_load import measure_payments
from temporalio.client import Client

log = structlog.get_logger("bench")

OPEN_CASES_ENV = "BENCH_OPEN_CASES"
DEFAULT_OPEN_CASES = 10_000
# Opened a slice at a time: ten thousand start requests at once would only queue in the client.
OPENING_SLICE = 500
STREAM_SECONDS = 60
STREAM_CASES_PER_S = 1.0
# After the stream, its cases run on so that their later steps' timers are read too.
SETTLE_SECONDS = 30


def open_case_count() -> int:
    """BENCH_OPEN_CASES (default 10,000); 0 leaves the scenario out."""
    raw = os.environ.get(OPEN_CASES_ENV, "").strip()
    if not raw:
        return DEFAULT_OPEN_CASES
    if not raw.isdigit():
        raise ValueError(f"{OPEN_CASES_ENV}: must be a whole number, not {raw!r}")
    return int(raw)


async def open_cases_on_time(
    folder: Path, open_cases: int, server: Server, processes: int
) -> dict[str, Any]:
    env = await start_dev_server(folder, server)
    try:
        client = env.client
        async with cases_worker_running(client, processes):
            opened = time.monotonic()
            for first in range(0, open_cases, OPENING_SLICE):
                ids = [f"Q-{i:06d}" for i in range(first, min(first + OPENING_SLICE, open_cases))]
                await open_quiet_cases(client, ids, expected=first + len(ids))
                log.info("open cases asleep", count=first + len(ids))
            opening_s = time.monotonic() - opened
            stream_ids = [f"S-{i:05d}" for i in range(int(STREAM_SECONDS * STREAM_CASES_PER_S))]
            streaming_ns = time.time_ns()
            payments, _ = await asyncio.gather(
                pay_open_cases(client, open_cases), stream_cases(client, stream_ids)
            )
            await asyncio.sleep(SETTLE_SECONDS)
            lateness, waits = await read_histories(client, stream_ids, streaming_ns)
    finally:
        await env.shutdown()
    return {
        "server": server,
        "worker": described(processes),
        "open_cases": open_cases,
        "opening_cases_per_s": rounded(open_cases / opening_s, 1),
        "record_payment_ms": payments,
        "timer_lateness_ms": {
            "p50": rounded(percentile(lateness, 0.5)),
            "p99": rounded(percentile(lateness, 0.99)),
            "max": rounded(max(lateness, default=None)),
            "over_1s": sum(1 for ms in lateness if ms > LATE_TIMER_MS),
            "timers": len(lateness),
        },
        "activity_schedule_to_start_ms_p99": rounded(percentile(waits, 0.99)),
    }


async def pay_open_cases(client: Client, open_cases: int) -> dict[str, Any]:
    """One partial payment each to open cases spread over the portfolio, at the paced rate."""
    count = int(PAYMENT_RATE_PER_S * STREAM_SECONDS)
    step = max(1, open_cases // max(count, 1))
    loan_ids = [f"Q-{i:06d}" for i in range(0, open_cases, step)][:count]
    return await measure_payments(client, loan_ids, rate_per_s=PAYMENT_RATE_PER_S, tag="open")


async def stream_cases(client: Client, loan_ids: list[str]) -> None:
    """`demo` cases, due four days ago (first contact at once), opened at the stream's rate."""
    due = days_ago(datetime.now(UTC), 4)
    begun = time.monotonic()
    for position, loan_id in enumerate(loan_ids):
        await asyncio.sleep(max(0.0, begun + position / STREAM_CASES_PER_S - time.monotonic()))
        await start_cases(client, [loan_id], due, "demo")
