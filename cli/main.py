"""The command line of the collection system: setup, open, import, pay, status, list, demo, ...

    collections setup                      (or: python starter.py setup)
    collections migrate
    collections open --loan-id L-1001 --borrower-id B-77 --currency CNY \\
        --amount-minor 500000 --due-date 2026-01-05
    collections import data/loans.csv
    collections pay L-1001 --amount-minor 100000 --currency CNY
    collections adjust L-1001 --adjustment-id adj-1 --component fees --amount-minor -5000
    collections promise L-1001 --promise-id pr-1 --amount-minor 100000 --due-date 2026-12-05
    collections plan L-1001 --plan-id pl-1 --installment 2026-12-10:250000 \\
        --installment 2027-01-10:250000
    collections settle L-1001 --settlement-id s-1 --amount-minor 300000 --due-date 2026-12-20
    collections assign L-1001 --to agent-ann --by sup-sue
    collections callback L-1001 --request-id cb-1 --at 2026-12-05T14:00+08:00
    collections status L-1001
    collections list --stage phone
    collections demo
    collections report --as-of 2026-03-31 --csv report.csv --html report.html
    collections codec-server
    collections checkout-simulator
    collections webhooks
    collections opt-out --borrower-id B-77 --channel sms [--undo]
    collections web
    collections desk-user add agent1 --role agent < password.txt

Every command connects as `settings.connect_client()` says (envconfig profile or
`TEMPORAL_ADDRESS`, default localhost:7233), except `migrate`, `report`, `opt-out` and
`desk-user`, which work on the case database (`DATABASE_URL`) only (`web` connects when a page
needs it). Exit codes: 0 ok, 2 bad input (nothing was
sent), 1 any other error. Printed lines carry loan ids, never a borrower's personal data
(except where the operator typed it). Each command module registers its own sub-command.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Callable, Sequence
from contextlib import suppress
from types import ModuleType

from temporalio.service import RPCError

from cli import (
    adjust,
    assign,
    borrower_backfill,
    cases,
    checkout_simulator,
    codec_server,
    commitments,
    csv_import,
    demo_loop,
    desk_users,
    inbound_server,
    listing,
    migrate,
    namespace_setup,
    opt_out,
    outcomes,
    pay,
    portal_link,
    report,
    simulate,
    status,
    web_server,
)
from cli.arguments import ClientFactory, Command, CommandSet
from cli.console import EXIT_BAD_INPUT, EXIT_ERROR, EXIT_OK, OutputClosed, UsageError, err, failed
from domain.case import DEFAULT_POLICY
from domain.errors import InvalidInput
from policies import load_policy
from runtime import settings, tracing
from runtime.encryption import EncryptionConfigError

# In the order `--help` lists them.
COMMAND_MODULES: tuple[ModuleType, ...] = (
    namespace_setup,
    migrate,
    cases,
    csv_import,
    pay,
    adjust,
    commitments,
    outcomes,
    assign,
    status,
    listing,
    report,
    simulate,
    inbound_server,
    opt_out,
    portal_link,
    demo_loop,
    borrower_backfill,
    codec_server,
    checkout_simulator,
    web_server,
    desk_users,
)


def build_parser(prog: str = "starter.py") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Open and work overdue-loan collection cases (Temporal workflows).",
        epilog="Connects as TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / envconfig profile say.",
    )
    parsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands = CommandSet(parsers, load_policy(DEFAULT_POLICY))
    for module in COMMAND_MODULES:
        register: Callable[[CommandSet], None] = module.register
        register(commands)
    return parser


async def run(
    argv: Sequence[str] | None = None,
    connect: ClientFactory | None = None,
    *,
    prog: str = "starter.py",
) -> int:
    args = build_parser(prog).parse_args(argv)
    handler: Command = args.handler
    try:
        return await handler(args, connect or settings.connect_client)
    except OutputClosed:
        return EXIT_OK
    except UsageError as error:
        return failed(str(error), EXIT_BAD_INPUT)
    except InvalidInput as error:
        return failed(f"invalid input: {error.field}: {error.problem}", EXIT_BAD_INPUT)
    except EncryptionConfigError as error:
        return failed(f"invalid configuration: {error}", EXIT_BAD_INPUT)
    except TimeoutError as error:
        # The commands that wait for a case explain their timeouts; this is the rest.
        return failed(
            f"{error or 'no answer in time'}: is a worker running on the task queue?", EXIT_ERROR
        )
    except RPCError as error:
        status = error.status.name if error.status else "?"
        return failed(f"temporal error ({status}): {error.message}", EXIT_ERROR)
    except RuntimeError as error:
        return failed(f"error: {error}", EXIT_ERROR)


def _leave_on_interrupt(signum: int, frame: object) -> None:
    """Ctrl-C leaves at once: every message is idempotent and the state is on the server.

    Waiting for `asyncio.run` to cancel the tasks instead can hang for good when an RPC
    in flight keeps retrying a server that `make run` is stopping at the same moment.
    """
    _flush()
    os._exit(EXIT_OK)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with suppress(BrokenPipeError):
            stream.flush()


# Where the commands' spans come from, in a trace (`OTEL_SERVICE_NAME` overrides it).
TRACED_AS = "collections-cli"


def main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> None:
    signal.signal(signal.SIGINT, _leave_on_interrupt)
    signal.signal(signal.SIGTERM, _leave_on_interrupt)
    try:
        # With OTEL_EXPORTER_OTLP_ENDPOINT set, every call to Temporal is traced: a payment's
        # trace goes on into the case (`runtime.tracing`).
        tracing.start_tracing(TRACED_AS)
        code = asyncio.run(run(argv, prog=prog or os.path.basename(sys.argv[0])))
    except tracing.TracingConfigError as error:
        code = failed(f"invalid configuration: {error}", EXIT_BAD_INPUT)
    except SystemExit as exit_:  # argparse: --help (0) or a usage error (2)
        code = exit_.code if isinstance(exit_.code, int) else EXIT_BAD_INPUT
    except (KeyboardInterrupt, BrokenPipeError):  # Ctrl-C, or `--help | head -1`
        code = EXIT_OK
    except Exception as error:
        err(f"error: {type(error).__name__}: {error}")
        code = EXIT_ERROR
    # The spans still buffered go out before the process leaves (os._exit skips atexit).
    tracing.stop_tracing()
    # A process that used a Temporal client can crash while the interpreter shuts down.
    _flush()
    os._exit(code)
