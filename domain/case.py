"""The start input of a collection case and its validation."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from domain import fields
from domain.debt import LoanTerms, Parts, parse_opening_parts, parse_terms
from domain.errors import InvalidInput
from domain.money import parse_currency

LOAN_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
POLICY_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
LOCALES = ("zh-CN", "en")
# The longest address SMTP carries (RFC 5321 path limit).
EMAIL_MAX = 254
DEFAULT_POLICY = "default"
DEFAULT_PORTFOLIO = "default"
PORTFOLIO_MAX = 64
SEGMENT_MAX = 64


@dataclass(frozen=True)
class Borrower:
    borrower_id: str
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    address: str | None = None
    # None means "the policy's default timezone", resolved when the case is prepared.
    timezone: str | None = None
    locale: str = "zh-CN"


@dataclass(frozen=True)
class CaseInput:
    loan_id: str
    borrower: Borrower
    currency: str
    overdue_amount_minor: int
    due_date: str
    policy: str = DEFAULT_POLICY
    portfolio: str = DEFAULT_PORTFOLIO
    # The debt by part at opening; None: all of it is principal.
    balance: Parts | None = None
    terms: LoanTerms | None = None
    # The lender's own grouping of borrowers (for routing); free text.
    segment: str | None = None
    # False when the start input named no policy: the routing file chooses at preparation.
    policy_given: bool = True

    @property
    def due(self) -> date:
        return date.fromisoformat(self.due_date)

    @property
    def opening_parts(self) -> Parts:
        return self.balance or Parts(principal_minor=self.overdue_amount_minor)


def parse_borrower(raw: Any) -> Borrower:
    data = fields.as_object(raw, "borrower")
    prefix = "borrower."
    borrower_id = fields.message_id(data, "borrower_id", prefix=prefix)
    phone = fields.optional_str(data, "phone", prefix=prefix)
    if phone is not None:
        fields.matching(phone, E164, "borrower.phone", "an E.164 number such as +8613800138000")
    email = fields.bounded_text(data, "email", required=False, max_chars=EMAIL_MAX, prefix=prefix)
    if email is not None:
        fields.matching(email, EMAIL, "borrower.email", "an email address")
    timezone = fields.optional_str(data, "timezone", prefix=prefix)
    if timezone is not None:
        fields.timezone_name(timezone, "borrower.timezone")
    locale = fields.optional_str(data, "locale", prefix=prefix) or "zh-CN"
    if locale not in LOCALES:
        raise InvalidInput("borrower.locale", f"must be one of {', '.join(LOCALES)}")
    return Borrower(
        borrower_id=borrower_id,
        name=fields.bounded_text(data, "name", required=False, prefix=prefix),
        phone=phone,
        email=email,
        address=fields.bounded_text(data, "address", required=False, prefix=prefix),
        timezone=timezone,
        locale=locale,
    )


def loan_id_of(data: Mapping[str, Any]) -> str:
    """The `loan_id` of a start input, or of a command naming the case a message is for."""
    return fields.matching(
        fields.required_str(data, "loan_id"), LOAN_ID, "loan_id", "1-64 of A-Za-z0-9._-"
    )


def parse_case_input(raw: Any, *, now: datetime) -> CaseInput:
    """Validate a start input (a plain JSON object) against the contract.

    `now` is an aware timestamp; the due date may not lie after today in the
    borrower's timezone (UTC when the borrower names none).
    """
    data = fields.as_object(raw, "case")
    loan_id = loan_id_of(data)
    borrower = parse_borrower(data.get("borrower"))
    currency = parse_currency(fields.required_str(data, "currency"))
    amount = fields.positive_int(data, "overdue_amount_minor")
    due = fields.iso_date(data, "due_date")
    today = now.astimezone(ZoneInfo(borrower.timezone or "UTC")).date()
    if due > today:
        raise InvalidInput("due_date", f"{due.isoformat()} is after today ({today.isoformat()})")
    given_policy = fields.optional_str(data, "policy")
    policy = given_policy or DEFAULT_POLICY
    fields.matching(policy, POLICY_NAME, "policy", "a policy name such as 'default'")
    portfolio = (
        fields.bounded_text(data, "portfolio", required=False, max_chars=PORTFOLIO_MAX)
        or DEFAULT_PORTFOLIO
    )
    balance = data.get("balance")
    terms = data.get("terms")
    return CaseInput(
        loan_id=loan_id,
        borrower=borrower,
        currency=currency,
        overdue_amount_minor=amount,
        due_date=due.isoformat(),
        policy=policy,
        portfolio=portfolio,
        balance=None if balance is None else parse_opening_parts(balance, amount),
        terms=None if terms is None else parse_terms(terms),
        segment=fields.bounded_text(data, "segment", required=False, max_chars=SEGMENT_MAX),
        policy_given=given_policy is not None,
    )
