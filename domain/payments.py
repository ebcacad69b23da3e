"""Payments: validation against the case and application to the balance."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain import fields
from domain.errors import InvalidInput

SOURCE_MAX = 64


@dataclass(frozen=True)
class Payment:
    payment_id: str
    amount_minor: int
    currency: str
    paid_at: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class Application:
    applied_minor: int
    outstanding_minor: int
    overpaid_minor: int


def parse_payment(raw: Any, *, case_currency: str) -> Payment:
    data = fields.as_object(raw, "payment")
    payment_id = fields.message_id(data, "payment_id")
    amount = fields.positive_int(data, "amount_minor")
    currency = fields.required_str(data, "currency")
    if currency != case_currency:
        raise InvalidInput("currency", f"{currency} is not the case currency {case_currency}")
    paid_at = fields.optional_datetime(data, "paid_at")
    source = fields.optional_str(data, "source")
    if source is not None and len(source) > SOURCE_MAX:
        raise InvalidInput("source", f"must be at most {SOURCE_MAX} characters")
    return Payment(
        payment_id=payment_id,
        amount_minor=amount,
        currency=currency,
        paid_at=paid_at.isoformat() if paid_at else None,
        source=source,
    )


def apply_payment(outstanding_minor: int, amount_minor: int) -> Application:
    """An overpayment is applied: outstanding becomes 0 and the excess is reported."""
    applied = min(outstanding_minor, amount_minor)
    return Application(
        applied_minor=applied,
        outstanding_minor=outstanding_minor - applied,
        overpaid_minor=amount_minor - applied,
    )
