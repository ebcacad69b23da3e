"""The command line of the collection system: setup, open, import, pay, status, list, demo, ...

    python starter.py setup
    python starter.py migrate
    python starter.py open --loan-id L-1001 --borrower-id B-77 --currency CNY \\
        --amount-minor 500000 --due-date 2026-01-05
    python starter.py import data/loans.csv
    python starter.py pay L-1001 --amount-minor 100000 --currency CNY
    python starter.py promise L-1001 --promise-id pr-1 --amount-minor 100000 --due-date 2026-12-05
    python starter.py plan L-1001 --plan-id pl-1 --installment 2026-12-10:250000 \\
        --installment 2027-01-10:250000
    python starter.py settle L-1001 --settlement-id s-1 --amount-minor 300000 --due-date 2026-12-20
    python starter.py status L-1001
    python starter.py list --stage phone
    python starter.py demo
    python starter.py report --as-of 2026-03-31 --csv report.csv --html report.html
    python starter.py codec-server
    python starter.py webhooks
    python starter.py opt-out --borrower-id B-77 --channel sms [--undo]

Every command connects as `settings.connect_client()` says (envconfig profile or
`TEMPORAL_ADDRESS`, default localhost:7233), except `migrate`, which works on the case
database (`DATABASE_URL`) only. Exit codes: 0 ok, 2 bad input (nothing
was sent), 1 any other error. Printed lines carry loan ids, never a borrower's
personal data (except where the operator typed it). The work is done in the `cli`
package; this file holds the argument parser and one thin function per command.
`report` is the exception: it reads only the case database (`DATABASE_URL`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.service import RPCError

from activities.store import Store
from cli import codec_server
from cli.borrower_backfill import backfill_borrowers
from cli.cases import case_from_flags, load_case_file, open_case, validate_case
from cli.commitments import (
    INSTALLMENT_EXAMPLE,
    INSTALLMENT_FORMAT,
    load_plan_file,
    plan_message,
    promise_message,
    settlement_message,
)
from cli.console import EXIT_BAD_INPUT, EXIT_ERROR, EXIT_OK, UsageError, err, out
from cli.csv_import import import_cases, read_case_csv
from cli.demo import BEHAVIOURS, run_demo
from cli.inbound import PORT_ENV, InboundSettings, parse_port, serve
from cli.listing import CASE_COLUMNS, case_rows, list_query
from cli.migrate import migrate_case_database
from cli.namespace_setup import set_up_namespace
from cli.opt_out import OPT_OUT_CHANNELS, set_opt_out
from cli.render import render_status, table
from cli.report import ReportError, run_report
from cli.updates import (
    ANSWER_TIMEOUT_SECONDS,
    CaseNotFound,
    explain_no_answer,
    query_status,
    run_update,
)
from domain.case import loan_id_of
from domain.case_status import CASE_STAGES, CASE_STATUSES
from domain.clock import BUCKETS
from domain.errors import InvalidInput
from domain.messages import (
    CONTACT_OUTCOMES,
    HOLD_KINDS,
    LEGAL_EVENTS,
    VISIT_OUTCOMES,
    parse_contact_outcome,
    parse_hold,
    parse_hold_release,
    parse_legal_event,
    parse_visit_outcome,
)
from domain.payments import parse_payment
from runtime import settings
from runtime.encryption import ENCRYPTION_KEYS_ENV, EncryptionConfigError

ClientFactory = Callable[[], Awaitable[Client]]


# --------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------
async def cmd_setup(args: argparse.Namespace, connect: ClientFactory) -> int:
    return await set_up_namespace(await connect())


async def cmd_migrate(args: argparse.Namespace, connect: ClientFactory) -> int:
    return migrate_case_database()


async def cmd_open(args: argparse.Namespace, connect: ClientFactory) -> int:
    now = datetime.now(UTC)
    try:
        raw = case_from_flags(args, load_case_file(args.file) if args.file else None)
        validate_case(raw, now=now)
    except InvalidInput as error:
        err(f"invalid case: {error.field}: {error.problem}")
        return EXIT_BAD_INPUT
    client = await connect()
    result = await open_case(client, raw, now=now)
    out(result.describe())
    return EXIT_ERROR if result.outcome == "closed" else EXIT_OK


async def cmd_import(args: argparse.Namespace, connect: ClientFactory) -> int:
    now = datetime.now(UTC)
    batch = read_case_csv(Path(args.file), now=now, policy=args.policy)
    for error in batch.errors:
        err(error.describe())
    if batch.errors and not args.skip_invalid:
        err(
            f"{len(batch.errors)} invalid row(s); nothing imported "
            "(fix them, or pass --skip-invalid to import the valid rows)"
        )
        return EXIT_BAD_INPUT
    client = await connect()
    summary = await import_cases(client, batch.cases, now=now)
    summary.invalid = batch.errors + summary.invalid
    out(summary.describe())
    return EXIT_ERROR if summary.failed else EXIT_OK


async def cmd_pay(args: argparse.Namespace, connect: ClientFactory) -> int:
    # Only a missing id is made up. An empty one is refused below like any id the case would
    # refuse: replaced by a new uuid, every retry of the command would pay again.
    generated = args.payment_id is None
    payment_id = str(uuid.uuid4()) if generated else args.payment_id
    arg: dict[str, Any] = {
        "payment_id": payment_id,
        "amount_minor": args.amount_minor,
        "currency": args.currency,
    }
    if args.source:
        arg["source"] = args.source
    if args.paid_at:
        arg["paid_at"] = args.paid_at
    try:
        loan_id_of(vars(args))
        # The case's own rules (amount bounds, id length, paid_at, source), before anything
        # is sent; only the case knows its currency, so the currency is checked there.
        parse_payment(arg, case_currency=args.currency, now=datetime.now(UTC))
    except InvalidInput as error:
        err(f"invalid payment: {error.field}: {error.problem}")
        return EXIT_BAD_INPUT
    if generated:
        out(f"payment id {payment_id} (retry with --payment-id {payment_id})")
    return await run_update(
        await connect(), args.loan_id, "record_payment", arg, timeout=args.timeout
    )


async def cmd_promise(args: argparse.Namespace, connect: ClientFactory) -> int:
    return await _send_checked(
        args,
        connect,
        "promise",
        "promise_to_pay",
        lambda: promise_message(args.promise_id, args.amount_minor, args.due_date),
    )


async def cmd_plan(args: argparse.Namespace, connect: ClientFactory) -> int:
    return await _send_checked(
        args,
        connect,
        "plan",
        "propose_plan",
        lambda: plan_message(
            args.plan_id, args.installment, load_plan_file(args.file) if args.file else None
        ),
    )


async def cmd_settle(args: argparse.Namespace, connect: ClientFactory) -> int:
    return await _send_checked(
        args,
        connect,
        "settlement",
        "agree_settlement",
        lambda: settlement_message(args.settlement_id, args.amount_minor, args.due_date),
    )


async def _send_checked(
    args: argparse.Namespace,
    connect: ClientFactory,
    what: str,
    update: str,
    message: Callable[[], dict[str, Any]],
) -> int:
    """Build the message and check it (and the loan id) as the case would, before connecting;
    then send it. A refused one exits 2 naming the field, and nothing is sent."""
    try:
        loan_id_of(vars(args))
        arg = message()
    except InvalidInput as error:
        err(f"invalid {what}: {error.field}: {error.problem}")
        return EXIT_BAD_INPUT
    return await run_update(await connect(), args.loan_id, update, arg, timeout=args.timeout)


def _checked(arg: dict[str, Any], parse: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    """`arg` once the case's own parser has read it (raises `InvalidInput`)."""
    parse(arg)
    return arg


def _with_note(arg: dict[str, Any], note: str | None) -> dict[str, Any]:
    return {**arg, "note": note} if note else arg


async def cmd_hold(args: argparse.Namespace, connect: ClientFactory) -> int:
    arg = {"hold_id": args.hold_id, "kind": args.kind, "reason": args.reason}
    return await _send_checked(
        args, connect, "hold", "place_hold", lambda: _checked(arg, parse_hold)
    )


async def cmd_release(args: argparse.Namespace, connect: ClientFactory) -> int:
    arg = {"hold_id": args.hold_id}
    return await _send_checked(
        args, connect, "hold release", "release_hold", lambda: _checked(arg, parse_hold_release)
    )


async def cmd_outcome(args: argparse.Namespace, connect: ClientFactory) -> int:
    arg = _with_note({"attempt_id": args.attempt_id, "outcome": args.outcome}, args.note)
    return await _send_checked(
        args,
        connect,
        "contact outcome",
        "record_contact_outcome",
        lambda: _checked(arg, parse_contact_outcome),
    )


async def cmd_visit(args: argparse.Namespace, connect: ClientFactory) -> int:
    arg = _with_note({"visit_id": args.visit_id, "outcome": args.outcome}, args.note)
    return await _send_checked(
        args,
        connect,
        "visit outcome",
        "record_visit_outcome",
        lambda: _checked(arg, parse_visit_outcome),
    )


async def cmd_legal(args: argparse.Namespace, connect: ClientFactory) -> int:
    arg = _with_note({"event_id": args.event_id, "event": args.event}, args.note)
    return await _send_checked(
        args,
        connect,
        "legal event",
        "record_legal_event",
        lambda: _checked(arg, parse_legal_event),
    )


async def cmd_status(args: argparse.Namespace, connect: ClientFactory) -> int:
    client = await connect()
    try:
        status = await query_status(client, args.loan_id, timeout=args.timeout)
    except CaseNotFound as error:
        err(str(error))
        return EXIT_ERROR
    except TimeoutError:
        # A query needs a worker too (it runs the case's code): say whether one is there.
        _, diagnosis = await explain_no_answer(client, args.loan_id, args.timeout)
        err(diagnosis)
        return EXIT_ERROR
    out(json.dumps(status, ensure_ascii=False, indent=2) if args.json else render_status(status))
    return EXIT_OK


async def cmd_list(args: argparse.Namespace, connect: ClientFactory) -> int:
    query = list_query(
        stage=args.stage,
        status=args.status,
        bucket=args.bucket,
        policy=args.policy,
        portfolio=args.portfolio,
        min_dpd=args.min_dpd,
        max_dpd=args.max_dpd,
    )
    rows = await case_rows(await connect(), query, limit=args.limit)
    if rows:
        out(table(CASE_COLUMNS, rows))
    out(f"{len(rows)} case(s)")
    return EXIT_OK


async def cmd_demo(args: argparse.Namespace, connect: ClientFactory) -> int:
    now = datetime.now(UTC)
    batch = read_case_csv(Path(args.csv), now=now, policy="demo", behaviours=BEHAVIOURS)
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


async def cmd_report(args: argparse.Namespace, connect: ClientFactory) -> int:
    try:
        text = run_report(
            as_of=args.as_of, as_json=args.json, csv_path=args.csv, html_path=args.html
        )
    except ReportError as error:
        err(f"report: {error}")
        return EXIT_ERROR
    out(text)
    return EXIT_OK


async def cmd_backfill_borrowers(args: argparse.Namespace, connect: ClientFactory) -> int:
    store = Store.from_env()
    try:
        report = await backfill_borrowers(await connect(), store)
    finally:
        store.dispose()
    out(f"recorded the borrowers of {report.recorded} open cases")
    for workflow_id in report.unreadable:
        err(f"{workflow_id}: its start input names no valid borrower; nothing recorded")
    return EXIT_ERROR if report.unreadable else EXIT_OK


async def cmd_codec_server(args: argparse.Namespace, connect: ClientFactory) -> int:
    config = codec_server.CodecServerConfig.from_env(port=args.port)
    codec = codec_server.codec_from_env()
    await asyncio.to_thread(codec_server.serve, codec, config, out)
    return EXIT_OK


async def cmd_webhooks(args: argparse.Namespace, connect: ClientFactory) -> int:
    settings_ = InboundSettings.from_env()
    if args.port is not None:
        settings_ = replace(settings_, port=parse_port(args.port, "--port"))
    if args.host is not None:
        settings_ = replace(settings_, host=args.host)
    await asyncio.to_thread(serve, settings_)
    return EXIT_OK


async def cmd_opt_out(args: argparse.Namespace, connect: ClientFactory) -> int:
    store = Store.from_env()
    try:
        store.require_current_schema()
        return set_opt_out(
            store, args.borrower_id, args.channel, undo=args.undo, reason=args.reason
        )
    finally:
        store.dispose()


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------
Command = Callable[[argparse.Namespace, ClientFactory], Awaitable[int]]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("must be a number of seconds greater than 0")
    return value


def _add_timeout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=ANSWER_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help=f"how long to wait for the case's answer (default {ANSWER_TIMEOUT_SECONDS:g})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="starter.py",
        description="Open and work overdue-loan collection cases (Temporal workflows).",
        epilog="Connects as TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / envconfig profile say.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Command, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    command(
        "setup",
        cmd_setup,
        "Register the custom search attributes on the namespace (only the missing ones).",
    )
    command(
        "migrate",
        cmd_migrate,
        "Bring the case database (DATABASE_URL) to this version's schema; idempotent.",
    )

    p = command("open", cmd_open, "Open a collection case (returns the open one if it exists).")
    p.add_argument("--file", help="the case as a JSON object (CaseInput); flags override it")
    p.add_argument("--loan-id")
    p.add_argument("--borrower-id")
    p.add_argument("--name")
    p.add_argument("--phone", help="E.164, e.g. +8613800138000")
    p.add_argument("--email")
    p.add_argument("--address")
    p.add_argument("--timezone", help="IANA name; default: the policy's")
    p.add_argument("--locale", help="zh-CN (default) or en")
    p.add_argument("--currency", help="ISO 4217, e.g. CNY")
    p.add_argument("--amount-minor", type=int, help="overdue amount in minor units (fen/cents)")
    p.add_argument("--due-date", help="YYYY-MM-DD, not after today")
    p.add_argument("--policy", help="policy name (default: default)")
    p.add_argument("--portfolio")

    p = command("import", cmd_import, "Open a case for every row of a CSV file (idempotent).")
    p.add_argument("file", metavar="FILE.csv")
    p.add_argument("--policy", help="use this policy for every row (overrides the column)")
    p.add_argument(
        "--skip-invalid", action="store_true", help="import the valid rows even if some are not"
    )

    p = command("pay", cmd_pay, "Record a payment (record_payment update).")
    p.add_argument("loan_id", metavar="LOAN_ID")
    p.add_argument("--amount-minor", type=int, required=True)
    p.add_argument("--currency", required=True)
    p.add_argument("--payment-id", help="idempotency key; default: a new uuid (printed)")
    p.add_argument("--source", help="e.g. bank-transfer")
    p.add_argument("--paid-at", help="ISO 8601 timestamp; default: now")
    _add_timeout(p)

    p = command(
        "promise",
        cmd_promise,
        "Record a promise to pay (promise_to_pay): contact pauses until it falls due.",
    )
    p.epilog = (
        "The case checks its policy's rules and rejects with InvalidPromise (exit 2): default, "
        "at most the outstanding amount, due today to 14 days ahead in the borrower's calendar, "
        "one open promise at a time, none after 3 broken ones."
    )
    p.add_argument("loan_id", metavar="LOAN_ID")
    p.add_argument("--promise-id", required=True, help="idempotency key")
    p.add_argument("--amount-minor", type=int, required=True, help="promised amount")
    p.add_argument("--due-date", required=True, help="YYYY-MM-DD, the borrower's calendar")
    _add_timeout(p)

    p = command(
        "plan", cmd_plan, "Agree an installment plan (propose_plan): escalation is suspended."
    )
    p.epilog = (
        "The case checks its policy's rules and rejects with InvalidPlan (exit 2): default, at "
        "most 12 installments summing to the outstanding amount exactly, due dates strictly "
        "increasing, the first within 30 days."
    )
    p.add_argument("loan_id", metavar="LOAN_ID")
    p.add_argument("--plan-id", help="idempotency key (required unless --file holds plan_id)")
    p.add_argument(
        "--installment",
        action="append",
        metavar=INSTALLMENT_FORMAT,
        help=f"one installment, e.g. {INSTALLMENT_EXAMPLE}; repeat it, in order of due date",
    )
    p.add_argument(
        "--file",
        help='the plan as a JSON object {"plan_id", "installments": [{"due_date", '
        '"amount_minor"}]}; --plan-id and --installment replace what it holds',
    )
    _add_timeout(p)

    p = command(
        "settle",
        cmd_settle,
        "Agree an operator-approved settlement (agree_settlement): paid in full, the case ends.",
    )
    p.epilog = (
        "The case checks its policy's rules and rejects with InvalidSettlement (exit 2): "
        "default, below the outstanding amount and due within 30 days."
    )
    p.add_argument("loan_id", metavar="LOAN_ID")
    p.add_argument("--settlement-id", required=True, help="idempotency key")
    p.add_argument("--amount-minor", type=int, required=True, help="the amount that settles")
    p.add_argument("--due-date", required=True, help="YYYY-MM-DD, the borrower's calendar")
    _add_timeout(p)

    p = command("hold", cmd_hold, "Place a hold (dispute, cease_contact, ...): collection pauses.")
    p.add_argument("loan_id", metavar="LOAN_ID")
    p.add_argument("--hold-id", required=True)
    p.add_argument("--kind", required=True, choices=HOLD_KINDS)
    p.add_argument("--reason", required=True)
    _add_timeout(p)

    p = command("release", cmd_release, "Release a hold.")
    p.add_argument("loan_id", metavar="LOAN_ID")
    p.add_argument("--hold-id", required=True)
    _add_timeout(p)

    p = command("outcome", cmd_outcome, "Record a call's outcome (record_contact_outcome).")
    p.add_argument("loan_id", metavar="LOAN_ID")
    p.add_argument("--attempt-id", required=True)
    p.add_argument("--outcome", required=True, choices=CONTACT_OUTCOMES)
    p.add_argument("--note")
    _add_timeout(p)

    p = command("visit", cmd_visit, "Record a field visit's outcome (record_visit_outcome).")
    p.add_argument("loan_id", metavar="LOAN_ID")
    p.add_argument("--visit-id", required=True)
    p.add_argument("--outcome", required=True, choices=VISIT_OUTCOMES)
    p.add_argument("--note")
    _add_timeout(p)

    p = command("legal", cmd_legal, "Record a legal event (record_legal_event).")
    p.add_argument("loan_id", metavar="LOAN_ID")
    p.add_argument("--event-id", required=True)
    p.add_argument("--event", required=True, choices=LEGAL_EVENTS)
    p.add_argument("--note")
    _add_timeout(p)

    p = command("status", cmd_status, "Show a case (open or closed).")
    p.add_argument("loan_id", metavar="LOAN_ID")
    p.add_argument("--json", action="store_true", help="print the raw status JSON")
    _add_timeout(p)

    p = command("list", cmd_list, "List cases by their search attributes.")
    p.epilog = (
        "Days past due (the dpd column, --min-dpd, --max-dpd) count calendar days in UTC "
        "from the DueDate search attribute; the case counts in the borrower's timezone, "
        "so near midnight they can differ by one day."
    )
    p.add_argument("--stage", choices=CASE_STAGES)
    p.add_argument("--status", choices=CASE_STATUSES)
    p.add_argument("--bucket", choices=BUCKETS)
    p.add_argument(
        "--min-dpd", type=_non_negative_int, metavar="DAYS", help="at least DAYS past due"
    )
    p.add_argument(
        "--max-dpd", type=_non_negative_int, metavar="DAYS", help="at most DAYS past due"
    )
    p.add_argument("--policy")
    p.add_argument("--portfolio")
    p.add_argument("--limit", type=_positive_int, default=100, help="default 100")

    p = command(
        "report",
        cmd_report,
        "Portfolio report from the case database: stages, buckets, recovery, roll rates.",
    )
    p.epilog = (
        "Reads only the case database (DATABASE_URL); no Temporal server is needed. Amounts "
        "are per currency. Days past due count in each borrower's timezone."
    )
    p.add_argument(
        "--as-of",
        metavar="YYYY-MM-DD",
        help="report as of the end of this day in each borrower's calendar, leaving out what "
        "was recorded later (default: now, everything recorded)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--csv", metavar="PATH", help="also write the figures as one CSV table")
    p.add_argument("--html", metavar="PATH", help="also write a self-contained page of charts")

    p = command(
        "webhooks",
        cmd_webhooks,
        "Serve the inbound webhooks: delivery receipts and STOP replies (Twilio, SendGrid).",
    )
    p.add_argument("--port", help=f"default: {PORT_ENV} or 8082")
    p.add_argument("--host", help="address to listen on; default: WEBHOOKS_HOST or 127.0.0.1")

    p = command(
        "opt-out",
        cmd_opt_out,
        "Opt a borrower out of a channel (all their loans), or lift it with --undo.",
    )
    p.add_argument("--borrower-id", required=True)
    p.add_argument("--channel", required=True, choices=OPT_OUT_CHANNELS)
    p.add_argument("--undo", action="store_true", help="lift the opt-out")
    p.add_argument("--reason", help="why, for the record (e.g. the borrower's letter)")

    p = command("demo", cmd_demo, "Import the demo portfolio and simulate borrowers and agents.")
    p.add_argument("--csv", default=str(settings.PROJECT_DIR / "data" / "demo_portfolio.csv"))
    p.add_argument("--once", action="store_true", help="one pass instead of until Ctrl-C")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between passes")

    command(
        "backfill-borrowers",
        cmd_backfill_borrowers,
        "Once, when upgrading: record the borrower of every open case opened before the case "
        "database kept contact details (read from each case's start input; safe to repeat).",
    )

    p = command(
        "codec-server",
        cmd_codec_server,
        "Serve /encode and /decode so the Temporal UI and CLI show encrypted payloads.",
    )
    p.epilog = (
        f"Keys from {ENCRYPTION_KEYS_ENV}; listens on {codec_server.HOST_ENV} "
        f"(default {codec_server.DEFAULT_HOST}):{codec_server.PORT_ENV} (default "
        f"{codec_server.DEFAULT_PORT}); CORS for {codec_server.ORIGINS_ENV} (default "
        f"{codec_server.DEFAULT_ORIGINS}); with {codec_server.TOKEN_ENV} set, requests need "
        "Authorization: Bearer <token>."
    )
    p.add_argument("--port", type=int, help=f"overrides {codec_server.PORT_ENV}")
    return parser


async def run(argv: Sequence[str] | None = None, connect: ClientFactory | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Command = args.handler
    try:
        return await handler(args, connect or settings.connect_client)
    except UsageError as error:
        err(str(error))
        return EXIT_BAD_INPUT
    except InvalidInput as error:
        err(f"invalid input: {error.field}: {error.problem}")
        return EXIT_BAD_INPUT
    except EncryptionConfigError as error:
        err(f"invalid configuration: {error}")
        return EXIT_BAD_INPUT
    except TimeoutError as error:
        # The commands that wait for a case explain their timeouts; this is the rest.
        err(f"{error or 'no answer in time'}: is a worker running on the task queue?")
        return EXIT_ERROR
    except RPCError as error:
        err(f"temporal error ({error.status.name if error.status else '?'}): {error.message}")
        return EXIT_ERROR
    except RuntimeError as error:
        err(f"error: {error}")
        return EXIT_ERROR


def _leave_on_interrupt(signum: int, frame: object) -> None:
    """Ctrl-C leaves at once: every message is idempotent and the state is on the server.

    Waiting for `asyncio.run` to cancel the tasks instead can hang for good when an RPC
    in flight keeps retrying a server that `make run` is stopping at the same moment.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_OK)


def main(argv: Sequence[str] | None = None) -> None:
    signal.signal(signal.SIGINT, _leave_on_interrupt)
    signal.signal(signal.SIGTERM, _leave_on_interrupt)
    try:
        code = asyncio.run(run(argv))
    except SystemExit as exit_:  # argparse: --help (0) or a usage error (2)
        code = exit_.code if isinstance(exit_.code, int) else EXIT_BAD_INPUT
    except KeyboardInterrupt:
        code = EXIT_OK
    except Exception as error:
        err(f"error: {type(error).__name__}: {error}")
        code = EXIT_ERROR
    # A process that used a Temporal client can crash while the interpreter shuts down.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
