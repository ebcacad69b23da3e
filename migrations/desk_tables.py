"""The desk's own tables: its users, sessions, sign-in failures, claims, view log, the
assignment rota and the settlements awaiting a supervisor.

The case stays the source of truth (issue 16): nothing here repeats a case's state. What the
desk keeps is what only the desk knows (who may sign in, who is calling whom right now, who saw
which borrower's details, whose turn it is, which settlement waits for approval). Timestamps are
`utc_iso` strings, as in `migrations.tables`; a change here needs a revision too.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Text
from sqlmodel import Field, SQLModel

from domain.fields import MESSAGE_ID_MAX

USER_NAME_MAX = 64


class DeskUserRow(SQLModel, table=True):
    """A person who signs in to the desk. `password_hash` is empty for a user who only comes
    through the company's single sign-on proxy."""

    __tablename__ = "desk_users"

    user_name: str = Field(primary_key=True, max_length=USER_NAME_MAX)
    role: str = Field(max_length=16)
    password_hash: str = Field(default="", sa_type=Text)
    # The buckets this user's team works ("M1,M2"); empty: every bucket.
    buckets: str = Field(default="", max_length=128)
    active: bool = Field(default=True)
    created_at: str
    updated_at: str


class DeskSessionRow(SQLModel, table=True):
    """A signed-in session; the cookie carries its id, signed. Ending it here signs the
    browser out even though its cookie is still well signed."""

    __tablename__ = "desk_sessions"

    session_id: str = Field(primary_key=True, max_length=64)
    user_name: str = Field(index=True, max_length=USER_NAME_MAX)
    created_at: str
    expires_at: str
    ended_at: str | None = None


class DeskSignInFailureRow(SQLModel, table=True):
    """One failed sign-in, to slow down guessing: kept per user name and per client address."""

    __tablename__ = "desk_sign_in_failures"

    id: int | None = Field(default=None, primary_key=True)
    user_name: str = Field(index=True, max_length=USER_NAME_MAX)
    client: str = Field(index=True, max_length=64)
    failed_at: str = Field(index=True)


class DeskClaimRow(SQLModel, table=True):
    """An agent's claim on a borrower while calling them: one row per borrower, so no two
    agents call the same borrower at once. A claim past `expires_at` is free to take over."""

    __tablename__ = "desk_claims"

    borrower_id: str = Field(primary_key=True, max_length=MESSAGE_ID_MAX)
    loan_id: str = Field(index=True, max_length=64)
    attempt_id: str = Field(max_length=MESSAGE_ID_MAX)
    user_name: str = Field(index=True, max_length=USER_NAME_MAX)
    claimed_at: str
    expires_at: str


class DeskViewRow(SQLModel, table=True):
    """A view of a borrower's personal data: who, which case, what, when (the audit log of
    views that the issue asks for; the case's own audit log holds what changed)."""

    __tablename__ = "desk_views"

    id: int | None = Field(default=None, primary_key=True)
    user_name: str = Field(index=True, max_length=USER_NAME_MAX)
    loan_id: str = Field(index=True, max_length=64)
    page: str = Field(max_length=32)
    viewed_at: str = Field(index=True)


class DeskAssignmentRow(SQLModel, table=True):
    """Who was made responsible for a case, by the worker's assignment activity (keyed by its
    request id, so a retried activity picks the same person) or by a supervisor. The rota's
    next turn is read from the latest row of the team."""

    __tablename__ = "desk_assignments"

    request_id: str = Field(primary_key=True, max_length=MESSAGE_ID_MAX)
    loan_id: str = Field(index=True, max_length=64)
    team: str = Field(index=True, max_length=64)
    user_name: str = Field(max_length=USER_NAME_MAX)
    assigned_by: str = Field(default="", max_length=USER_NAME_MAX)
    assigned_at: str = Field(index=True)


class DeskSettlementRequestRow(SQLModel, table=True):
    """A settlement an agent asked for, waiting for a supervisor (maker-checker): only the
    approval sends `agree_settlement` to the case."""

    __tablename__ = "desk_settlement_requests"

    request_id: str = Field(primary_key=True, max_length=MESSAGE_ID_MAX)
    loan_id: str = Field(index=True, max_length=64)
    amount_minor: int = Field(sa_type=BigInteger)
    due_date: str = Field(max_length=10)
    note: str = Field(default="", sa_type=Text)
    requested_by: str = Field(max_length=USER_NAME_MAX)
    requested_at: str
    decision: str = Field(default="", max_length=16)
    decided_by: str = Field(default="", max_length=USER_NAME_MAX)
    decided_at: str | None = None
    answer: str = Field(default="", sa_type=Text)
