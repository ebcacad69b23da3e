"""A borrower's commitments from the command line: a promise, an installment plan, a settlement.

Each message is built from the flags (a plan also from a JSON file) and read by the case's own
parser before anything is sent, so a malformed one is refused naming the field and nothing
reaches Temporal. The policy's rules (how far ahead, the plan's sum, one open promise, ...)
need the case's state and calendar: the case checks them and rejects with `InvalidPromise`,
`InvalidPlan` or `InvalidSettlement`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from cli.cases import load_case_file
from domain.commitments import parse_plan, parse_promise, parse_settlement
from domain.errors import InvalidInput
from domain.fields import shown

INSTALLMENT_FORMAT = "DATE:AMOUNT"
INSTALLMENT_EXAMPLE = "2026-12-10:250000"
_INTEGER = re.compile(r"[+-]?[0-9]+")


def promise_message(promise_id: str, amount_minor: int, due_date: str) -> dict[str, Any]:
    """The `promise_to_pay` argument, checked as the case reads it (raises `InvalidInput`)."""
    arg = {"promise_id": promise_id, "amount_minor": amount_minor, "due_date": due_date}
    parse_promise(arg)
    return arg


def settlement_message(settlement_id: str, amount_minor: int, due_date: str) -> dict[str, Any]:
    """The `agree_settlement` argument, checked as the case reads it (raises `InvalidInput`)."""
    arg = {"settlement_id": settlement_id, "amount_minor": amount_minor, "due_date": due_date}
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
) -> dict[str, Any]:
    """The `propose_plan` argument: the `--file` object (`base`), with `--plan-id` and the
    `--installment` flags (all of them, in order) replacing what it holds; checked as the case
    reads it (raises `InvalidInput`)."""
    arg: dict[str, Any] = dict(base or {})
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
