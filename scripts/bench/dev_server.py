"""On a dev server: the ceiling, the quiet cases' payments, and intake beside a demo storm.

Two servers: `stock`, `temporal server start-dev` as anyone starts it (in memory, no flags),
and `tuned`, as `make run` starts it (`settings.DEV_SERVER_ARGS`, on a SQLite file in
`folder`). The cases' worker is `worker.py` with a number of processes (see cases_worker), on
the case database in `folder`.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import structlog
from bench_cases import CASES_QUEUE, CEILING_QUEUE, POLL_SECONDS, rounded, server_binary
from case_histories import LATE_TIMER_MS, read_histories
from cases_worker import cases_worker_running, described
from ceiling import WORKFLOW_TYPE, NoopWorkflow, noop
from cpu_use import CpuReading, dev_server_pid, settled
from figures import percentile
from intake import Intake, daytime_zone, measure_intake, open_quiet_cases
from payment_load import measure_payments
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import worker as project_worker
from runtime import settings
from workflows import search_attributes

log = structlog.get_logger("bench")

# The headline payment latency: a payment system sending this many payments a second to the
# N open cases (a portfolio of 1,000 overdue loans gets a few hundred payments a day), for
# PACED_SECONDS. BENCH_PAYMENT_RATE overrides the rate.
PAYMENT_RATE_PER_S = float(os.environ.get("BENCH_PAYMENT_RATE", "5"))
PACED_SECONDS = 30
# The demo cases run at least this long before their histories are read (60 `demo` days), so
# that, however fast the payments went, their timers have fired in numbers a p99 can be read
# from (a p99 of 50 timers is their maximum).
MIN_RUN_SECONDS = 120.0


@dataclass(frozen=True)
class QuietFigures:
    """Payments to the quiet cases, and what their histories show of the paced ones."""

    payments: dict[str, Any]
    saturated: dict[str, Any]
    lateness: list[float]
    waits: list[float]


@dataclass(frozen=True)
class IntakeFigures:
    """Intake of an import and of the demo cases, and the demo cases' payments and histories."""

    imported: Intake
    demo: Intake
    demo_cpu: dict[str, float | None]
    # Seconds the server and workers took to fall idle before each intake (None: they did not).
    settled_s: dict[str, float | None]
    demo_payments: dict[str, Any]
    lateness: list[float]
    waits: list[float]


Server = Literal["stock", "tuned"]
SERVERS: tuple[Server, ...] = ("stock", "tuned")
SERVERS_ENV = "BENCH_SERVERS"


def servers() -> list[Server]:
    """The dev servers to run on, from BENCH_SERVERS (default: both, comma separated)."""
    raw = os.environ.get(SERVERS_ENV, "").strip()
    named = [part.strip() for part in raw.split(",")] if raw else list(SERVERS)
    chosen = [server for server in SERVERS if server in named]
    if not chosen or len(chosen) != len(set(named)):
        raise ValueError(f"{SERVERS_ENV}: a comma separated choice of {SERVERS}, not {raw!r}")
    return chosen


async def start_dev_server(folder: Path, server: Server) -> WorkflowEnvironment:
    """`stock`: no flags, in memory; `tuned`: as `make run` starts it, on a SQLite file."""
    tuned = server == "tuned"
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=server_binary("temporal"),
        dev_server_database_filename=str(folder / "temporal.db") if tuned else None,
        search_attributes=search_attributes.ALL,
        ui=False,
        dev_server_log_level="error",
        dev_server_extra_args=list(settings.DEV_SERVER_ARGS) if tuned else [],
    )


async def on_dev_server(folder: Path, cases: int, server: Server, processes: int) -> dict[str, Any]:
    env = await start_dev_server(folder, server)
    try:
        client = env.client
        server_pids = [pid] if (pid := dev_server_pid()) is not None else []
        cases_worker = project_worker.create_worker(client, task_queue=CASES_QUEUE)
        # The ceiling's worker runs in this process: its CPU is the benchmark's.
        reading = CpuReading.now({"server": server_pids, "worker": [os.getpid()]})
        ceiling = await ceiling_with_worker_settings(client, cases_worker, cases)
        ceiling_cpu = reading.ms_per_case(cases)
        async with cases_worker_running(client, processes) as worker_pids:
            log.info("quiet: default cases until each is prepared", ceiling=ceiling)
            quiet = await pay_quiet_cases(client, cases)
            roles = {"server": server_pids, "worker": worker_pids, "benchmark": [os.getpid()]}
            intake = await intake_beside_demo(client, folder / "collections.db", cases, roles)
    finally:
        await env.shutdown()
    return {"server": server, "worker": described(processes)} | dev_server_report(
        ceiling, ceiling_cpu, quiet, intake
    )


async def ceiling_with_worker_settings(client: Client, cases_worker: Worker, cases: int) -> float:
    """The ceiling, run with the project worker's own settings (sandbox, slots, executors; the
    process's cycle collector is set at the benchmark's start, as a worker process sets its own)."""
    config = cases_worker.config()
    config["task_queue"] = CEILING_QUEUE
    config["workflows"], config["activities"] = [NoopWorkflow], [noop]
    log.info("ceiling: one-activity workflows", cases=cases)
    async with Worker(**config):
        return await measure_ceiling(client, cases)


async def measure_ceiling(client: Client, cases: int) -> float:
    """Completions per second of `cases` one-activity workflows started at once."""
    started = time.time()
    await asyncio.gather(
        *(
            client.start_workflow(NoopWorkflow.run, id=f"noop-{i}", task_queue=CEILING_QUEUE)
            for i in range(cases)
        )
    )
    query = f'WorkflowType = "{WORKFLOW_TYPE}"'
    completed = f'{query} AND ExecutionStatus = "Completed"'
    deadline = time.monotonic() + 60 + cases
    while (await client.count_workflows(completed)).count < cases:
        if time.monotonic() > deadline:
            raise RuntimeError("the one-activity workflows did not all complete")
        await asyncio.sleep(POLL_SECONDS)
    closed = [wf.close_time async for wf in client.list_workflows(query) if wf.close_time]
    return cases / (max(closed).timestamp() - started)


async def pay_quiet_cases(client: Client, cases: int) -> QuietFigures:
    """Open the quiet cases, pay them at the paced rate (and read those histories), then pay
    each as fast as they answer."""
    quiet_ids = [f"Q-{i:05d}" for i in range(cases)]
    await open_quiet_cases(client, quiet_ids)
    log.info("record_payment on the quiet cases")
    paying_ns = time.time_ns()
    paced_ids = quiet_ids[: int(PAYMENT_RATE_PER_S * PACED_SECONDS)]
    paced = await measure_payments(client, paced_ids, rate_per_s=PAYMENT_RATE_PER_S, tag="paced")
    lateness, waits = await read_histories(client, paced_ids, paying_ns)
    log.info("record_payment on the quiet cases, as fast as they answer")
    saturated = await measure_payments(client, quiet_ids, tag="saturated")
    return QuietFigures(paced, saturated, lateness, waits)


async def intake_beside_demo(
    client: Client, database: Path, cases: int, roles: dict[str, list[int]]
) -> IntakeFigures:
    """An import of `default` cases, then the demo cases (and the CPU that each of `roles`
    spent on them until each had its first contact), their payments and histories."""
    # Each intake starts from an idle server and worker, as the ceiling does: not charged for
    # the work the phase before left behind, nor queued behind it.
    busy = [*roles["server"], *roles["worker"]]
    settled_s = {"import": await settled(busy)}
    zone = daytime_zone(datetime.now(UTC))
    log.info("intake: an import of `default` cases, first reminder due", timezone=zone)
    import_ids = [f"I-{i:05d}" for i in range(cases)]
    intake_import = await measure_intake(client, import_ids, database, "default", zone)
    settled_s["demo"] = await settled(busy)
    log.info("intake: demo cases until each has its first contact", settled_s=settled_s)
    demo_ids = [f"L-{i:05d}" for i in range(cases)]
    opened = time.monotonic()
    reading = CpuReading.now(roles)
    intake = await measure_intake(client, demo_ids, database)
    intake_cpu = reading.ms_per_case(cases)
    log.info("record_payment on the demo cases", intake=intake.cases_per_s)
    demo_payments = await measure_payments(client, demo_ids)
    await asyncio.sleep(opened + MIN_RUN_SECONDS - time.monotonic())
    log.info("reading the demo cases' histories")
    lateness, waits = await read_histories(client, demo_ids)
    return IntakeFigures(
        intake_import, intake, intake_cpu, settled_s, demo_payments, lateness, waits
    )


def ratio(part: float | None, ceiling: float) -> float | None:
    return None if part is None else part / ceiling


def dev_server_report(
    ceiling: float, ceiling_cpu: dict[str, float | None], quiet: QuietFigures, intake: IntakeFigures
) -> dict[str, Any]:
    lateness = intake.lateness
    return {
        "ceiling_workflows_per_s": rounded(ceiling, 2),
        "cpu_ms_per_case": {"ceiling": ceiling_cpu, "intake_demo": intake.demo_cpu},
        "intake_to_first_contact_cases_per_s": rounded(intake.demo.cases_per_s, 2),
        "ratio_to_ceiling": rounded(ratio(intake.demo.cases_per_s, ceiling), 3),
        "intake_import_cases_per_s": rounded(intake.imported.cases_per_s, 2),
        "import_ratio_to_ceiling": rounded(ratio(intake.imported.cases_per_s, ceiling), 3),
        "settled_before_intake_s": intake.settled_s,
        "first_contact_s": {
            "demo": intake.demo.first_contact_s,
            "import": intake.imported.first_contact_s,
        },
        "record_payment_ms": quiet.payments,
        "record_payment_saturated_ms": quiet.saturated,
        "record_payment_during_demo_ms": intake.demo_payments,
        "timer_lateness_ms_p99_quiet": rounded(percentile(quiet.lateness, 0.99)),
        "timer_lateness_ms_p99_demo": rounded(percentile(lateness, 0.99)),
        "timer_lateness_ms_demo": {
            "p50": rounded(percentile(lateness, 0.5)),
            "p95": rounded(percentile(lateness, 0.95)),
            "max": rounded(max(lateness, default=None)),
            "over_1s": sum(1 for ms in lateness if ms > LATE_TIMER_MS),
        },
        "activity_schedule_to_start_ms_p99_quiet": rounded(percentile(quiet.waits, 0.99)),
        "activity_schedule_to_start_ms_p99_demo": rounded(percentile(intake.waits, 0.99)),
        "samples": {
            "quiet": {"timers": len(quiet.lateness), "activities": len(quiet.waits)},
            "demo": {"timers": len(lateness), "activities": len(intake.waits)},
        },
    }
