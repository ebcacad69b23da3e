"""Updates from the command line: print a case's answer or its rejection, and when no answer
comes in time say why as far as it can tell (no worker polls the case's task queue, or one does
and the case is slow). Either way the message may already be recorded (an update admitted by the
server is delivered once a worker runs), so the command says that resending the same id is
safe: every message id is its idempotency key. The sending itself is `caseclient.messages`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from temporalio.client import Client, WorkflowUpdateFailedError

from caseclient.messages import (
    ANSWER_TIMEOUT_SECONDS,
    MESSAGES,
    CaseNotFound,
    call_update,
    explain_no_answer,
    rejection,
)
from cli.arguments import ClientFactory, seconds
from cli.console import EXIT_BAD_INPUT, EXIT_ERROR, EXIT_OK, err, failed, out
from domain.case import loan_id_of
from domain.errors import InvalidInput
from domain.money import format_money


async def run_update(
    client: Client,
    loan_id: str,
    update: str,
    arg: dict[str, Any],
    *,
    timeout: float = ANSWER_TIMEOUT_SECONDS,
    currency: str | None = None,
) -> int:
    """Send an update, print its answer (exit 0) or its rejection (exit 2).

    The answer is printed as the case gave it (JSON, for scripts); with the `currency` known,
    its amounts follow on stderr as people write them. No answer in time: say whether a
    worker is there at all, and that the same message id may be resent (exit 1).
    """
    try:
        answer = await call_update(client, loan_id, update, arg, timeout=timeout)
    except WorkflowUpdateFailedError as error:
        kind, message = rejection(error)
        return failed(f"rejected ({kind}): {message}", EXIT_BAD_INPUT)
    except CaseNotFound as error:
        return failed(str(error), EXIT_ERROR)
    except TimeoutError:
        worker_seen, diagnosis = await explain_no_answer(client, loan_id, timeout)
        return failed(f"{diagnosis}; {_resend_advice(update, arg, worker_seen)}", EXIT_ERROR)
    out(json.dumps(answer, ensure_ascii=False))
    if currency and (amounts := amounts_text(answer, currency)):
        err(f"{loan_id}: {amounts}")
    return EXIT_OK


def amounts_text(answer: dict[str, Any], currency: str) -> str:
    """`outstanding CNY 4,000.00, overpaid CNY 0.00` from an answer's `*_minor` fields."""
    return ", ".join(
        f"{key.removesuffix('_minor').replace('_', ' ')} {format_money(value, currency)}"
        for key, value in answer.items()
        if key.endswith("_minor") and isinstance(value, int)
    )


def _resend_advice(update: str, arg: dict[str, Any], worker_seen: bool) -> str:
    """The message may or may not be recorded; its id makes resending it safe."""
    what, id_key = MESSAGES.get(update, ("message", ""))
    verb = "applied" if update in ("record_payment", "adjust_balance") else "recorded"
    resend = f"resending the same {id_key or 'message id'}"
    if id_key and arg.get(id_key):
        resend += f" ({arg[id_key]})"
    advice = f"{resend} is safe (it is {verb} once)"
    if worker_seen:
        return f"the {what} may or may not have been {verb}; {advice}"
    # An update the server admitted is delivered once a worker runs, so even here it may
    # end up recorded; the resend after starting a worker gets the first answer.
    return f"once a worker runs, {advice}"


def add_source(parser: argparse.ArgumentParser, example: str = "agent1") -> None:
    """`--source NAME`: who sends the message, recorded with it in the case's audit log."""
    parser.add_argument(
        "--source",
        metavar="NAME",
        help=f"who sends it, for the case's audit log (e.g. {example}; at most 64 characters)",
    )


def with_source(arg: dict[str, Any], source: str | None) -> dict[str, Any]:
    """The message with its `source`, if `--source` named one (absent, as before it existed)."""
    return {**arg, "source": source} if source else arg


def add_timeout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=ANSWER_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help=f"how long to wait for the case's answer (default {ANSWER_TIMEOUT_SECONDS:g})",
    )


async def send_checked(
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
