"""`demo`: import the demo portfolio and run its simulated borrowers and agents, pass after
pass, until every case has ended (or Ctrl-C). What each simulated person does is `cli.demo`'s.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from temporalio.client import Client, WorkflowUpdateFailedError

from caseclient.messages import call_update, query_status, rejection
from cli.arguments import ClientFactory, CommandSet
from cli.console import EXIT_BAD_INPUT, EXIT_OK, err, out
from cli.csv_import import CsvCase, import_cases, read_case_csv
from cli.demo import BEHAVIOURS, DEMO_TIMEOUT_SECONDS, LEFT_TO_DESK, demo_actions
from domain.case_status import FINAL_STATUSES
from runtime import settings


def _due_date(item: CsvCase) -> date | None:
    """The case's due date, as its start input gave it (commitments' dates count from it)."""
    try:
        return date.fromisoformat(str(item.raw.get("due_date")))
    except ValueError:
        return None


def _brief(error: BaseException) -> str:
    """An error in one short line: its type and the start of its message (no case data)."""
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message[:100]}" if message else type(error).__name__


def _log(text: str) -> None:
    out(f"{datetime.now().strftime('%H:%M:%S')} {text}")


async def demo_pass(
    client: Client,
    cases: Sequence[CsvCase],
    *,
    done: dict[str, set[str]],
    stages: dict[str, str],
    closed: set[str],
) -> None:
    """Query every open demo case once and send what its simulated people would send.

    `stages` holds each case's last logged `stage/status`: a change is logged.
    """

    async def one(item: CsvCase) -> None:
        loan_id = item.loan_id
        try:
            status = await query_status(client, loan_id, timeout=DEMO_TIMEOUT_SECONDS)
        except Exception as error:
            _log(f"{loan_id} status not available ({_brief(error)}); retrying later")
            return
        stage = str(status.get("stage"))
        where = f"{stage}/{status.get('status')}"
        if stages.get(loan_id) != where:
            _log(
                f"{loan_id} {stages.get(loan_id, '-')} -> {where} "
                f"(DPD {status.get('days_past_due')})"
            )
            stages[loan_id] = where
        if stage == "closed" or status.get("status") in FINAL_STATUSES:
            closed.add(loan_id)
            return
        sent = done.setdefault(loan_id, set())
        actions = demo_actions(
            item.behaviour, status, now=datetime.now(UTC), done=sent, due_date=_due_date(item)
        )
        for action in actions:
            try:
                answer = await call_update(
                    client,
                    loan_id,
                    action.update,
                    action.arg,
                    timeout=DEMO_TIMEOUT_SECONDS,
                )
            except WorkflowUpdateFailedError as error:
                kind, message = rejection(error)
                _log(f"{loan_id} {action.update} {action.message_id} rejected ({kind}): {message}")
                sent.add(action.key)  # a rejection is final for this id
                continue
            except Exception as error:
                _log(f"{loan_id} {action.update} failed ({_brief(error)}); retrying later")
                continue
            sent.add(action.key)
            _log(f"{loan_id} {action.update} {action.message_id} -> {answer.get('status')}")

    await asyncio.gather(*(one(item) for item in cases if item.loan_id not in closed))


async def run_demo(
    client: Client, cases: Sequence[CsvCase], *, once: bool, interval: float
) -> None:
    done: dict[str, set[str]] = {}
    stages: dict[str, str] = {}
    closed: set[str] = set()
    # The cases left to the desk wait for people (an hour a day): the demo ends without them.
    simulated = {item.loan_id for item in cases if item.behaviour != LEFT_TO_DESK}
    while True:
        await demo_pass(client, cases, done=done, stages=stages, closed=closed)
        if once:
            return
        if simulated <= closed:
            _log("every simulated demo case is closed; the desk's cases wait for people")
            return
        await asyncio.sleep(interval)


async def cmd_demo(args: argparse.Namespace, connect: ClientFactory) -> int:
    now = datetime.now(UTC)
    # Each row's own policy: `demo` (2 s days), or `demo-desk` (real days) for the cases left
    # to the desk's people.
    batch = read_case_csv(Path(args.csv), now=now, behaviours=BEHAVIOURS)
    for error in batch.errors:
        err(error.describe())
    if batch.errors:
        err("the demo CSV has invalid rows; nothing imported")
        return EXIT_BAD_INPUT
    client = await connect()
    summary = await import_cases(client, batch.cases, now=now)
    out(summary.describe())
    await run_demo(client, batch.cases, once=args.once, interval=args.interval)
    return EXIT_OK


def register(commands: CommandSet) -> None:
    p = commands.add(
        "demo", cmd_demo, "Import the demo portfolio and simulate borrowers and agents."
    )
    p.add_argument("--csv", default=str(settings.PROJECT_DIR / "data" / "demo_portfolio.csv"))
    p.add_argument("--once", action="store_true", help="one pass instead of until Ctrl-C")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between passes")
