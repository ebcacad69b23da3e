"""`record_payment` under load: paced as a payment system sends them, or as fast as answered."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from bench_cases import CURRENCY, IN_FLIGHT, PARTIAL_MINOR, handle, rounded
from figures import percentile
from temporalio.client import Client, WorkflowUpdateRPCTimeoutOrCancelledError

log = structlog.get_logger("bench")

# A payment left unanswered (the server's deadline passed) is sent again, up to this many sends.
SENDS_PER_PAYMENT = 3


async def measure_payments(
    client: Client, loan_ids: list[str], *, rate_per_s: float | None = None, tag: str = "bench"
) -> dict[str, Any]:
    """p50/p99 latency (ms), timed on the client, of one partial `record_payment` per case;
    how many completed per second, and how many failed.

    With `rate_per_s`, payments arrive at that steady rate whatever the answers (open loop, as
    a payment system sends them): latency at a load the system carries. Without it, IN_FLIGHT
    at a time (closed loop): the most it carries, and the latency when saturated."""
    slots = asyncio.Semaphore(IN_FLIGHT if rate_per_s is None else len(loan_ids))
    resent = 0

    async def pay(position: int, loan_id: str) -> float:
        nonlocal resent
        payment = {"payment_id": f"{tag}-{loan_id}", "amount_minor": PARTIAL_MINOR}
        if rate_per_s is not None:
            await asyncio.sleep(position / rate_per_s)
        async with slots:
            begun = time.perf_counter()
            for attempt in range(1, SENDS_PER_PAYMENT + 1):
                try:
                    await handle(client, loan_id).execute_update(
                        "record_payment", payment | {"currency": CURRENCY}, result_type=dict
                    )
                    break
                except WorkflowUpdateRPCTimeoutOrCancelledError:
                    # No answer within the server's deadline: as a payment system does, send
                    # the same payment again (the case answers a resent id as a duplicate).
                    if attempt == SENDS_PER_PAYMENT:
                        raise
                    resent += 1
            return (time.perf_counter() - begun) * 1000

    begun = time.perf_counter()
    results = await asyncio.gather(
        *(pay(position, loan_id) for position, loan_id in enumerate(loan_ids)),
        return_exceptions=True,
    )
    elapsed = time.perf_counter() - begun
    failures = [result for result in results if isinstance(result, BaseException)]
    if failures:
        log.warning("payments failed", count=len(failures), first=repr(failures[0]))
    latencies = [result for result in results if isinstance(result, float)]
    return {
        "p50": rounded(percentile(latencies, 0.5)),
        "p99": rounded(percentile(latencies, 0.99)),
        "per_s": rounded(len(latencies) / elapsed, 1),
        "resent": resent,
        "failed": len(failures),
    }
