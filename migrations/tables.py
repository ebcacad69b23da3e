"""The case database: one sqlmodel class per table.

Timestamps are ISO-8601 strings in UTC with microseconds (`utc_iso` below), so
they compare correctly as text on SQLite and PostgreSQL alike. JSON values are stored as text
because both backends then behave the same and the rows stay readable in any SQL shell.

The columns agree with the validation in `domain/fields.py`, so that whatever a message may
hold can be recorded: amounts (up to 2^53 - 1) are BIGINT, because a plain `int` column is a
32-bit INTEGER on PostgreSQL; caller-chosen ids are varchar(128); notes, reasons, bodies and
JSON are unbounded TEXT. A change here needs a revision in migrations/versions (see the
`migrations` package); tests/test_migrations.py fails, naming the column, until it has one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime

from sqlalchemy import BigInteger, Index, Text, text
from sqlmodel import Field, SQLModel

from contracts import CaseEvent, PaymentRecord
from domain.case import Borrower
from domain.debt import COMPONENTS
from domain.fields import MESSAGE_ID_MAX, SOURCE_MAX

# A debt's parts as columns (`Parts.as_json()`'s keys): a payment's allocation, a case's balance.
PART_COLUMNS = tuple(f"{component}_minor" for component in COMPONENTS)


def utc_iso(value: str | datetime | None = None) -> str:
    """Normalise a timestamp (default: now) to UTC ISO-8601 with microseconds.

    A fixed width keeps text comparison equal to time comparison; a naive value is taken as UTC
    because the workflow only ever passes UTC (`workflow.now()`).
    """
    moment = datetime.now(UTC) if value is None else value
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


class OfCase(SQLModel):
    """The columns of a row that belongs to a case: its case id and loan id, both indexed."""

    case_id: str = Field(index=True, max_length=64)
    loan_id: str = Field(index=True, max_length=64)


class CaseRow(SQLModel, table=True):
    __tablename__ = "cases"

    # The workflow's first run id: stable across continue-as-new, unique across re-opened loans.
    case_id: str = Field(primary_key=True, max_length=64)
    workflow_id: str = Field(index=True, max_length=128)
    loan_id: str = Field(index=True, max_length=64)
    borrower_id: str = Field(index=True, max_length=MESSAGE_ID_MAX)
    currency: str = Field(max_length=3)
    overdue_amount_minor: int = Field(sa_type=BigInteger)
    due_date: str = Field(max_length=10)
    policy: str = Field(max_length=64)
    portfolio: str = Field(max_length=64)
    timezone: str = Field(max_length=64)
    stage: str = Field(max_length=32)
    status: str = Field(max_length=32)
    days_past_due: int = 0
    outstanding_minor: int = Field(sa_type=BigInteger)
    paid_minor: int = Field(default=0, sa_type=BigInteger)
    planned_ladder: str = Field(default="[]", sa_type=Text)
    opened_at: str
    updated_at: str
    closed_at: str | None = None
    # The outstanding amount by part as of `balance_as_of` (the case's latest decision, as
    # its last snapshot had it); NULL until a snapshot with parts (0008_debt_by_part).
    principal_minor: int | None = Field(default=None, sa_type=BigInteger)
    interest_minor: int | None = Field(default=None, sa_type=BigInteger)
    fees_minor: int | None = Field(default=None, sa_type=BigInteger)
    penalty_minor: int | None = Field(default=None, sa_type=BigInteger)
    balance_as_of: str | None = None
    # How routing chose the policy (0011_strategy): the start input's segment, and within an
    # experiment its name and the case's arm (`champion` / `challenger`); NULL outside one.
    segment: str | None = Field(default=None, max_length=64)
    experiment: str | None = Field(default=None, index=True, max_length=64)
    arm: str | None = Field(default=None, max_length=16)

    @property
    def balance(self) -> dict[str, int] | None:
        """The balance by part (`Parts.as_json()`), None where none was recorded."""
        return parts_of({column: getattr(self, column) for column in PART_COLUMNS})


class BorrowerRow(SQLModel, table=True):
    """A borrower's contact details: kept here only, never in Temporal's history."""

    __tablename__ = "borrowers"

    borrower_id: str = Field(primary_key=True, max_length=MESSAGE_ID_MAX)
    name: str | None = Field(default=None, sa_type=Text)
    phone: str | None = Field(default=None, index=True, max_length=32)
    email: str | None = Field(default=None, index=True, max_length=320)
    address: str | None = Field(default=None, sa_type=Text)
    timezone: str | None = Field(default=None, max_length=64)
    locale: str = Field(default="zh-CN", max_length=16)
    updated_at: str

    @classmethod
    def from_borrower(cls, borrower: Borrower, *, at: str) -> BorrowerRow:
        """The row of a borrower's details as the case brought them at `at`: the borrower's
        fields, column for column (tests/test_record_shapes.py keeps the two shapes equal)."""
        return cls(**asdict(borrower), updated_at=utc_iso(at))


class ContactAttemptRow(OfCase, table=True):
    """The outbox: written before anything leaves the system, so a retry can see what was sent."""

    __tablename__ = "contact_attempts"

    attempt_id: str = Field(primary_key=True, max_length=200)
    channel: str = Field(max_length=16)
    template: str = Field(max_length=64)
    recipient: str | None = None
    body: str | None = Field(default=None, sa_type=Text)
    # pending, sent, unconfirmed, skipped, queued, booked, failed, referred
    status: str = Field(max_length=16)
    provider_ref: str | None = Field(default=None, index=True)
    days_past_due: int = 0
    created_at: str
    sent_at: str | None = None
    result: str | None = Field(default=None, max_length=32)
    note: str | None = Field(default=None, sa_type=Text)
    # What the provider reported afterwards (a delivery receipt): delivered, failed, ...
    delivery_status: str | None = Field(default=None, max_length=16)
    delivery_updated_at: str | None = None
    # Sends begun, each counted before its HTTP call: after one, the message may be at the
    # provider although no answer came back, so a later try asks the provider before sending.
    send_tries: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # When the first send began: where a provider's lookup of an earlier send starts.
    send_started_at: str | None = None
    # The provider's Retry-After as a moment: no call to it for this attempt before then, even
    # when the case decides the step again and starts the activity anew.
    provider_not_before: str | None = None


class PaymentRow(SQLModel, table=True):
    __tablename__ = "payments"
    __table_args__ = (
        # Rejected payments may lack or repeat a payment id; an applied one exists once per case.
        Index(
            "uq_payments_applied_payment_id",
            "case_id",
            "payment_id",
            unique=True,
            sqlite_where=text("status = 'applied'"),
            postgresql_where=text("status = 'applied'"),
        ),
    )

    # The key is the case and the record: a payment id is unique within one payment system,
    # not across loans, so two loans may each be paid under the same id (0005_payments_by_case).
    case_id: str = Field(primary_key=True, index=True, max_length=64)
    # An applied payment's id, or "rejected-" and a uuid: both well within the bound.
    record_id: str = Field(primary_key=True, max_length=200)
    loan_id: str = Field(index=True, max_length=64)
    # A rejected payment's id goes through `domain.fields.storable_id`, so it fits too.
    payment_id: str | None = Field(default=None, max_length=MESSAGE_ID_MAX)
    amount_minor: int | None = Field(default=None, sa_type=BigInteger)
    currency: str | None = Field(default=None, max_length=16)
    status: str = Field(max_length=16)  # applied, rejected
    # A rejection reason may quote a 2,000-character note or reason: no bound here.
    reason: str | None = Field(default=None, sa_type=Text)
    paid_at: str | None = None
    source: str | None = Field(default=None, max_length=SOURCE_MAX)
    applied_minor: int = Field(default=0, sa_type=BigInteger)
    overpaid_minor: int = Field(default=0, sa_type=BigInteger)
    outstanding_after_minor: int | None = Field(default=None, sa_type=BigInteger)
    received_at: str
    # What an applied payment paid off, part by part (the record's `allocation`); NULL in a
    # rejected payment and in one recorded before debts had parts (0008_debt_by_part).
    principal_minor: int | None = Field(default=None, sa_type=BigInteger)
    interest_minor: int | None = Field(default=None, sa_type=BigInteger)
    fees_minor: int | None = Field(default=None, sa_type=BigInteger)
    penalty_minor: int | None = Field(default=None, sa_type=BigInteger)

    @classmethod
    def from_record(cls, record: PaymentRecord) -> PaymentRow:
        """The row of a payment as the case recorded it: the record's fields, column for
        column (tests/unit/test_record_shapes.py keeps the two shapes equal), but for the
        fact's own `at`, which `received_at` already holds where the fact had one, and its
        allocation, one column a part."""
        columns = asdict(record)
        del columns["at"]
        allocation = columns.pop("allocation") or {}
        columns["received_at"] = utc_iso(record.received_at)
        columns.update({column: allocation.get(column) for column in PART_COLUMNS})
        return cls(**columns)

    @property
    def allocation(self) -> dict[str, int] | None:
        """The record's allocation read back, None where none was recorded."""
        return parts_of({column: getattr(self, column) for column in PART_COLUMNS})


def parts_of(columns: Mapping[str, int | None]) -> dict[str, int] | None:
    """A row's part columns (`PART_COLUMNS`) as `Parts.as_json()` has them; None when none
    holds a value (a part missing beside recorded ones is 0)."""
    values = {column: columns.get(column) for column in PART_COLUMNS}
    if all(value is None for value in values.values()):
        return None
    return {column: value or 0 for column, value in values.items()}


class WorkItemRow(OfCase, table=True):
    """A call task for the phone agents; its id is the contact attempt's id."""

    __tablename__ = "work_items"

    work_item_id: str = Field(primary_key=True, max_length=200)
    queue: str = Field(default="phone-agents", index=True, max_length=64)
    kind: str = Field(default="call", max_length=16)
    status: str = Field(default="open", index=True, max_length=16)  # open, done
    outcome: str | None = Field(default=None, max_length=32)
    note: str | None = Field(default=None, sa_type=Text)
    created_at: str
    due_at: str
    completed_at: str | None = None


class FieldVisitRow(OfCase, table=True):
    __tablename__ = "field_visits"

    visit_id: str = Field(primary_key=True, max_length=200)
    # Visits are made by at least two staff (NIFA guideline); the column keeps that auditable.
    staff_count: int = 2
    scheduled_for: str
    status: str = Field(default="booked", max_length=16)  # booked, done
    outcome: str | None = Field(default=None, max_length=32)
    note: str | None = Field(default=None, sa_type=Text)
    completed_at: str | None = None


class LegalReferralRow(OfCase, table=True):
    __tablename__ = "legal_referrals"

    referral_id: str = Field(primary_key=True, max_length=200)
    evidence_dir: str
    manifest_sha256: str = Field(max_length=64)
    files: str = Field(default="[]", sa_type=Text)
    created_at: str


class CaseEventRow(OfCase, table=True):
    """The append-only audit log of a case."""

    __tablename__ = "case_events"

    event_key: str = Field(primary_key=True, max_length=300)
    kind: str = Field(max_length=64)
    # A message id, a case id or a ladder position.
    ref_id: str | None = Field(default=None, max_length=MESSAGE_ID_MAX)
    detail: str = Field(default="{}", sa_type=Text)
    at: str

    @classmethod
    def from_event(cls, case_event: CaseEvent) -> CaseEventRow:
        """The row of an audit event: the event's fields, column for column, its detail as
        JSON text (tests/test_record_shapes.py keeps the two shapes equal)."""
        return cls(
            **{
                **asdict(case_event),
                "detail": json.dumps(case_event.detail, ensure_ascii=False, sort_keys=True),
                "at": utc_iso(case_event.at),
            }
        )


class BorrowerChannelRow(SQLModel, table=True):
    """A channel a borrower cannot be reached on at one address, across all of their loans:
    opted out (a STOP reply, or the operator) or undeliverable (the provider refused the
    recipient for good). A mark belongs to the address it was found for, so a borrower's new
    number or mailbox starts clean."""

    __tablename__ = "borrower_channels"

    borrower_id: str = Field(primary_key=True, max_length=MESSAGE_ID_MAX)
    channel: str = Field(primary_key=True, max_length=16)
    # The number, mailbox or postal address, as the borrowers table and the outbox hold it;
    # "" where none was known (see activities/borrower_channels.py).
    recipient: str = Field(default="", primary_key=True)
    state: str = Field(max_length=16)  # opted_out | undeliverable
    source: str = Field(max_length=32)  # inbound_reply | operator | provider_rejection
    reason: str | None = Field(default=None, sa_type=Text)
    at: str


class InboundMessageRow(SQLModel, table=True):
    """A message the inbound webhooks applied (a receipt, a STOP or START): the same message
    again changes nothing, and an opt-out or opt-in older than the latest one applied from the
    same address changes nothing either."""

    __tablename__ = "inbound_messages"
    __table_args__ = (Index("ix_inbound_messages_word", "channel", "recipient", "said_at"),)

    # The provider's id of the message, prefixed by its kind: twilio-inbound:SM..,
    # twilio-status:SM..:delivered, sendgrid:<sg_event_id> (or a digest of the event).
    message_key: str = Field(primary_key=True, max_length=200)
    channel: str = Field(max_length=16)
    # An opt-out or opt-in (`intent`) only: the address it came from.
    recipient: str | None = None
    intent: str | None = Field(default=None, max_length=16)
    # When the sender said it: the provider's timestamp where it gives one, else arrival.
    said_at: str
    received_at: str
