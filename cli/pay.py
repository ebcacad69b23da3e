"""`pay`: record a payment on a case (the `record_payment` update), checked before sending."""

from __future__ import annotations

import argparse
import uuid
from datetime import UTC, datetime
from typing import Any

from cli.arguments import ClientFactory, CommandSet
from cli.console import EXIT_BAD_INPUT, err, out
from cli.updates import add_source, add_timeout, run_update, with_source
from domain.case import loan_id_of
from domain.errors import InvalidInput
from domain.payments import parse_payment


async def cmd_pay(args: argparse.Namespace, connect: ClientFactory) -> int:
    # Only a missing id is made up. An empty one is refused below like any id the case would
    # refuse: replaced by a new uuid, every retry of the command would pay again.
    generated = args.payment_id is None
    payment_id = str(uuid.uuid4()) if generated else args.payment_id
    arg: dict[str, Any] = with_source(
        {"payment_id": payment_id, "amount_minor": args.amount_minor, "currency": args.currency},
        args.source,
    )
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
        await connect(),
        args.loan_id,
        "record_payment",
        arg,
        timeout=args.timeout,
        currency=args.currency,
    )


def register(commands: CommandSet) -> None:
    p = commands.add("pay", cmd_pay, "Record a payment (record_payment update).")
    p.add_argument("loan_id", metavar="LOAN_ID")
    p.add_argument("--amount-minor", type=int, required=True)
    p.add_argument("--currency", required=True)
    p.add_argument("--payment-id", help="idempotency key; default: a new uuid (printed)")
    add_source(p, "bank-transfer")
    p.add_argument("--paid-at", help="ISO 8601 timestamp; default: now")
    add_timeout(p)
