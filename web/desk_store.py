"""The desk's own rows (migrations/desk_tables.py) over the case database's `Store`: users,
sessions, failed sign-ins and the log of views.

Every method takes the moment it acts at (the application's clock), never the wall clock, so
tests and the throttle's window agree on what "now" is. Timestamps are stored as `utc_iso`.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import col, select

from activities.store import Store
from migrations.desk_tables import (
    DeskSessionRow,
    DeskSignInFailureRow,
    DeskUserRow,
    DeskViewRow,
)
from migrations.tables import utc_iso

ROLES = ("agent", "field", "supervisor")
CLIENT_MAX = 64


class DeskStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- users ---------------------------------------------------------------------------------
    def add_user(
        self, user_name: str, *, role: str, password_hash: str, buckets: str, at: datetime
    ) -> bool:
        """False (and nothing changed) if the name is taken."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        now = utc_iso(at)
        row = DeskUserRow(
            user_name=user_name,
            role=role,
            password_hash=password_hash,
            buckets=buckets,
            created_at=now,
            updated_at=now,
        )
        return self.store.insert_if_absent(row)

    def user(self, user_name: str) -> DeskUserRow | None:
        return self.store.get(DeskUserRow, user_name)

    def users(self) -> list[DeskUserRow]:
        with self.store.reading() as session:
            return list(session.exec(select(DeskUserRow).order_by(col(DeskUserRow.user_name))))

    def set_password(self, user_name: str, password_hash: str, *, at: datetime) -> bool:
        """False if there is no such user."""
        changed = self.store.update(
            DeskUserRow, user_name, password_hash=password_hash, updated_at=utc_iso(at)
        )
        return changed is not None

    def update_user(
        self, user_name: str, *, at: datetime, role: str | None = None, buckets: str | None = None
    ) -> bool:
        values: dict[str, str] = {"updated_at": utc_iso(at)}
        if role is not None:
            if role not in ROLES:
                raise ValueError(f"role must be one of {', '.join(ROLES)}")
            values["role"] = role
        if buckets is not None:
            values["buckets"] = buckets
        return self.store.update(DeskUserRow, user_name, **values) is not None

    def disable_user(self, user_name: str, *, at: datetime) -> bool:
        """Disable the user and end every session of theirs, in one transaction; False if
        there is no such user."""
        now = utc_iso(at)
        with self.store.session() as session:
            row = session.get(DeskUserRow, user_name)
            if row is None:
                return False
            row.active = False
            row.updated_at = now
            session.add(row)
            session.exec(
                update(DeskSessionRow)
                .where(col(DeskSessionRow.user_name) == user_name)
                .where(col(DeskSessionRow.ended_at).is_(None))
                .values(ended_at=now)
            )
        return True

    # -- sessions ------------------------------------------------------------------------------
    def open_session(self, user_name: str, *, at: datetime, lifetime: timedelta) -> str:
        """A new session's id: 256 random bits, so it cannot be guessed even unsigned."""
        session_id = secrets.token_urlsafe(32)
        self.store.insert_if_absent(
            DeskSessionRow(
                session_id=session_id,
                user_name=user_name,
                created_at=utc_iso(at),
                expires_at=utc_iso(at + lifetime),
            )
        )
        return session_id

    def live_session_user(self, session_id: str, *, at: datetime) -> DeskUserRow | None:
        """The user of a session that is not ended, not expired, and whose user is active."""
        now = utc_iso(at)
        with self.store.reading() as session:
            found = session.exec(
                select(DeskUserRow)
                .join(DeskSessionRow, col(DeskSessionRow.user_name) == col(DeskUserRow.user_name))
                .where(col(DeskSessionRow.session_id) == session_id)
                .where(col(DeskSessionRow.ended_at).is_(None))
                .where(col(DeskSessionRow.expires_at) > now)
                .where(col(DeskUserRow.active).is_(True))
            ).first()
        return found

    def end_session(self, session_id: str, *, at: datetime) -> None:
        with self.store.session() as session:
            session.exec(
                update(DeskSessionRow)
                .where(col(DeskSessionRow.session_id) == session_id)
                .where(col(DeskSessionRow.ended_at).is_(None))
                .values(ended_at=utc_iso(at))
            )

    # -- failed sign-ins -----------------------------------------------------------------------
    def record_failure(self, user_name: str, client: str, *, at: datetime, keep: timedelta) -> None:
        """Record one failure and forget those older than `keep` (the throttle's window), so
        the table holds at most a window's worth of guesses."""
        with self.store.session() as session:
            session.exec(
                delete(DeskSignInFailureRow).where(
                    col(DeskSignInFailureRow.failed_at) < utc_iso(at - keep)
                )
            )
            session.add(
                DeskSignInFailureRow(
                    user_name=user_name[:64], client=client[:CLIENT_MAX], failed_at=utc_iso(at)
                )
            )

    def failure_times(
        self, *, since: datetime, user_name: str | None = None, client: str | None = None
    ) -> list[datetime]:
        """When the failures after `since` of that user name (or that client) happened,
        oldest first."""
        statement = select(DeskSignInFailureRow.failed_at).where(
            col(DeskSignInFailureRow.failed_at) > utc_iso(since)
        )
        if user_name is not None:
            statement = statement.where(col(DeskSignInFailureRow.user_name) == user_name[:64])
        if client is not None:
            statement = statement.where(col(DeskSignInFailureRow.client) == client[:CLIENT_MAX])
        with self.store.reading() as session:
            found = session.exec(statement.order_by(col(DeskSignInFailureRow.failed_at))).all()
        return [datetime.fromisoformat(value) for value in found]

    def clear_failures(self, user_name: str) -> None:
        with self.store.session() as session:
            session.exec(
                delete(DeskSignInFailureRow).where(
                    col(DeskSignInFailureRow.user_name) == user_name[:64]
                )
            )

    # -- views of personal data ----------------------------------------------------------------
    def record_view(self, user_name: str, loan_id: str, page: str, *, at: datetime) -> None:
        with self.store.session() as session:
            session.add(
                DeskViewRow(user_name=user_name, loan_id=loan_id, page=page, viewed_at=utc_iso(at))
            )

    def views_of_case(self, loan_id: str) -> list[DeskViewRow]:
        with self.store.reading() as session:
            return list(
                session.exec(
                    select(DeskViewRow)
                    .where(col(DeskViewRow.loan_id) == loan_id)
                    .order_by(col(DeskViewRow.viewed_at))
                )
            )
