"""Payments: validation against the case and application to the balance."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from domain import fields
from domain.errors import InvalidInput

# Payment systems' clocks run a little ahead of ours; a payment stamped further ahead than this
# has not happened yet and would misdate promises and installments it counts toward.
PAID_AT_SKEW = timedelta(minutes=5)
# No loan in this system was paid before then: an earlier year is a typo (1026 for 2026).
PAID_AT_EARLIEST_YEAR = 2000


@dataclass(frozen=True)
class Payment:
    payment_id: str
    amount_minor: int
    currency: str
    paid_at: str | None = None
    source: str | None = None


def parse_payment(raw: Any, *, case_currency: str, now: datetime | None = None) -> Payment:
    """Validate a payment message against the case.

    `now` (aware; the workflow passes `workflow.now()`) enables the check that `paid_at` is not
    in the future; without it only the fixed bounds apply.
    """
    data = fields.as_object(raw, "payment")
    payment_id = fields.message_id(data, "payment_id")
    amount = fields.positive_int(data, "amount_minor")
    currency = fields.required_str(data, "currency")
    if currency != case_currency:
        raise InvalidInput(
            "currency", f"{fields.shown(currency)} is not the case currency {case_currency}"
        )
    paid_at = _paid_at(data, now)
    source = fields.source(data)
    return Payment(
        payment_id=payment_id,
        amount_minor=amount,
        currency=currency,
        paid_at=paid_at.isoformat() if paid_at else None,
        source=source,
    )


def _paid_at(data: Mapping[str, Any], now: datetime | None) -> datetime | None:
    paid_at = fields.optional_datetime(data, "paid_at")
    if paid_at is None:
        return None
    if paid_at.year < PAID_AT_EARLIEST_YEAR:
        raise InvalidInput(
            "paid_at", f"{paid_at.isoformat()} is before {PAID_AT_EARLIEST_YEAR} (a typo?)"
        )
    try:
        # Whoever reads the timestamp later converts it to UTC; 9999-12-31T23:59-05:00 cannot be.
        paid_at.astimezone(UTC)
    except OverflowError:
        raise InvalidInput("paid_at", f"{paid_at.isoformat()} is out of range") from None
    if now is not None:
        latest = (now if now.tzinfo else now.replace(tzinfo=UTC)) + PAID_AT_SKEW
        if paid_at > latest:
            raise InvalidInput("paid_at", f"{paid_at.isoformat()} is in the future")
    return paid_at
