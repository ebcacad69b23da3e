"""`adjust`: post an amount to one part of a case's debt (the `adjust_balance` update), for
an operator correcting the balance: interest the loan system posted, a fee waived, a penalty
reversed. Read by the case's own parser before anything is sent."""

from __future__ import annotations

import argparse
from typing import Any

from cli.arguments import ClientFactory, CommandSet
from cli.updates import add_source, add_timeout, send_checked, with_source
from domain.debt import COMPONENTS, parse_adjustment


def adjustment_message(
    adjustment_id: str,
    component: str,
    amount_minor: int,
    reason: str | None,
    source: str | None = None,
) -> dict[str, Any]:
    """The `adjust_balance` argument, checked as the case reads it (raises `InvalidInput`)."""
    arg: dict[str, Any] = {
        "adjustment_id": adjustment_id,
        "component": component,
        "amount_minor": amount_minor,
    }
    if reason is not None:
        arg["reason"] = reason
    arg = with_source(arg, source)
    parse_adjustment(arg)
    return arg


async def cmd_adjust(args: argparse.Namespace, connect: ClientFactory) -> int:
    return await send_checked(
        args,
        connect,
        "adjustment",
        "adjust_balance",
        lambda: adjustment_message(
            args.adjustment_id, args.component, args.amount_minor, args.reason, args.source
        ),
    )


def register(commands: CommandSet) -> None:
    p = commands.add(
        "adjust",
        cmd_adjust,
        "Adjust one part of a case's debt (adjust_balance): post interest, waive a fee, ...",
    )
    p.epilog = (
        "The case rejects with InvalidAdjustment (exit 2) an adjustment that would take a part "
        "below 0, add fees or penalty the loan's terms do not authorise, or take penalty plus "
        "interest above the policy's annual cap. The same --adjustment-id again answers as the "
        "first time and changes nothing."
    )
    p.add_argument("loan_id", metavar="LOAN_ID")
    p.add_argument("--adjustment-id", required=True, help="idempotency key")
    p.add_argument("--component", required=True, choices=COMPONENTS, help="the part to adjust")
    p.add_argument(
        "--amount-minor",
        "--amount",
        dest="amount_minor",
        type=int,
        required=True,
        metavar="MINOR",
        help="minor units, not 0; negative reduces the part (-5000 takes 50.00 off)",
    )
    p.add_argument("--reason", help="why, for the case's audit trail (at most 2,000 characters)")
    add_source(p, "operator1")
    add_timeout(p)
