"""A borrower's commitments from the command line: a promise, an installment plan, a settlement.

Each message is built from the flags (a plan also from a JSON file) and read by the case's own
parser before anything is sent, so a malformed one is refused naming the field and nothing
reaches Temporal. The policy's rules (how far ahead, the plan's sum, one open promise, ...)
need the case's state and calendar: the case checks them and rejects with `InvalidPromise`,
`InvalidPlan` or `InvalidSettlement`.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping, Sequence
from typing import Any

from cli.arguments import ClientFactory, CommandSet
from cli.cases import load_case_file
from cli.updates import add_source, add_timeout, send_checked, with_source
from domain.commitments import CommitmentRules, parse_plan, parse_promise, parse_settlement
from domain.errors import InvalidInput
from domain.fields import shown

INSTALLMENT_FORMAT = "DATE:AMOUNT"
INSTALLMENT_EXAMPLE = "2026-12-10:250000"
_INTEGER = re.compile(r"[+-]?[0-9]+")


def promise_message(
    promise_id: str, amount_minor: int, due_date: str, source: str | None = None
) -> dict[str, Any]:
    """The `promise_to_pay` argument, checked as the case reads it (raises `InvalidInput`)."""
    arg = with_source(
        {"promise_id": promise_id, "amount_minor": amount_minor, "due_date": due_date}, source
    )
    parse_promise(arg)
    return arg


def settlement_message(
    settlement_id: str, amount_minor: int, due_date: str, source: str | None = None
) -> dict[str, Any]:
    """The `agree_settlement` argument, checked as the case reads it (raises `InvalidInput`)."""
    arg = with_source(
        {"settlement_id": settlement_id, "amount_minor": amount_minor, "due_date": due_date},
        source,
    )
    parse_settlement(arg)
    return arg


def installment_from_flag(text: str, position: int) -> dict[str, Any]:
    """One `--installment DATE:AMOUNT` as the contract's `{"due_date", "amount_minor"}`.

    Only the shape is read here; the date and the amount are judged by `parse_plan`, which
    names `installments[N].due_date` or `installments[N].amount_minor`.
    """
    due_date, colon, amount = text.strip().rpartition(":")
    if not colon or not due_date.strip() or not amount.strip():
        raise InvalidInput(
            f"installments[{position}]",
            f"must be {INSTALLMENT_FORMAT} (e.g. {INSTALLMENT_EXAMPLE}), not {shown(text)}",
        )
    amount = amount.strip()
    return {
        "due_date": due_date.strip(),
        "amount_minor": int(amount) if _INTEGER.fullmatch(amount) else amount,
    }


def plan_message(
    plan_id: str | None,
    installments: Sequence[str] | None,
    base: Mapping[str, Any] | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """The `propose_plan` argument: the `--file` object (`base`), with `--plan-id`, the
    `--installment` flags (all of them, in order) and `--source` replacing what it holds;
    checked as the case reads it (raises `InvalidInput`)."""
    arg: dict[str, Any] = with_source(dict(base or {}), source)
    if plan_id is not None:
        arg["plan_id"] = plan_id
    if installments:
        arg["installments"] = [
            installment_from_flag(text, position) for position, text in enumerate(installments)
        ]
    parse_plan(arg)
    return arg


def load_plan_file(path: str) -> dict[str, Any]:
    """A plan as the contract's JSON object (`{"plan_id", "installments": [...]}`)."""
    return load_case_file(path)


async def cmd_promise(args: argparse.Namespace, connect: ClientFactory) -> int:
    return await send_checked(
        args,
        connect,
        "promise",
        "promise_to_pay",
        lambda: promise_message(args.promise_id, args.amount_minor, args.due_date, args.source),
    )


async def cmd_plan(args: argparse.Namespace, connect: ClientFactory) -> int:
    return await send_checked(
        args,
        connect,
        "plan",
        "propose_plan",
        lambda: plan_message(
            args.plan_id,
            args.installment,
            load_plan_file(args.file) if args.file else None,
            args.source,
        ),
    )


async def cmd_settle(args: argparse.Namespace, connect: ClientFactory) -> int:
    return await send_checked(
        args,
        connect,
        "settlement",
        "agree_settlement",
        lambda: settlement_message(
            args.settlement_id, args.amount_minor, args.due_date, args.source
        ),
    )


def _rules_epilog(rejection: str, policy: str, rules: str) -> str:
    return (
        f"The case checks its policy's rules and rejects with {rejection} (exit 2): "
        f"{policy}, {rules}."
    )


def promise_rules(name: str, rules: CommitmentRules) -> str:
    return _rules_epilog(
        "InvalidPromise",
        name,
        f"at most the outstanding amount, due today to {rules.promise_max_days} days ahead in "
        "the borrower's calendar, one open promise at a time, none after "
        f"{rules.max_broken_promises} broken ones",
    )


def plan_rules(name: str, rules: CommitmentRules) -> str:
    return _rules_epilog(
        "InvalidPlan",
        name,
        f"at most {rules.plan_max_installments} installments summing to the outstanding amount "
        "exactly, due dates strictly increasing, the first within "
        f"{rules.plan_first_within_days} days",
    )


def settlement_rules(name: str, rules: CommitmentRules) -> str:
    return _rules_epilog(
        "InvalidSettlement",
        name,
        f"below the outstanding amount and due within {rules.settlement_max_days} days",
    )


def register(commands: CommandSet) -> None:
    name, rules = commands.policy.name, commands.policy.commitments
    p = commands.add(
        "promise",
        cmd_promise,
        "Record a promise to pay (promise_to_pay): contact pauses until it falls due.",
    )
    p.epilog = promise_rules(name, rules)
    p.add_argument("loan_id", metavar="LOAN_ID")
    p.add_argument("--promise-id", required=True, help="idempotency key")
    p.add_argument("--amount-minor", type=int, required=True, help="promised amount")
    p.add_argument("--due-date", required=True, help="YYYY-MM-DD, the borrower's calendar")
    add_source(p)
    add_timeout(p)

    p = commands.add(
        "plan", cmd_plan, "Agree an installment plan (propose_plan): escalation is suspended."
    )
    p.epilog = plan_rules(name, rules)
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
    add_source(p)
    add_timeout(p)

    p = commands.add(
        "settle",
        cmd_settle,
        "Agree an operator-approved settlement (agree_settlement): paid in full, the case ends.",
    )
    p.epilog = settlement_rules(name, rules)
    p.add_argument("loan_id", metavar="LOAN_ID")
    p.add_argument("--settlement-id", required=True, help="idempotency key")
    p.add_argument("--amount-minor", type=int, required=True, help="the amount that settles")
    p.add_argument("--due-date", required=True, help="YYYY-MM-DD, the borrower's calendar")
    add_source(p)
    add_timeout(p)
