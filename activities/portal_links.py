"""The borrower's signed links (`domain.portal`) in the case database: made for a notice (keyed
by its attempt id, so a retried send renders the same link), for `starter.py portal-link`, or
for a borrower who asked for a new one; and read back when a link is opened."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from weakref import WeakKeyDictionary

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from activities.store import Store
from domain.portal import link_expiry, link_id_of, link_url, new_link_id, token_of
from migrations.portal_tables import PortalLinkRow, PortalSecretRow
from migrations.tables import CaseRow, utc_iso
from runtime import settings


@dataclass(frozen=True)
class LinkKeys:
    """What links are made with: the secret and the portal's public address."""

    secret: str
    base_url: str

    @classmethod
    def from_env(cls, store: Store) -> LinkKeys:
        """`PORTAL_SECRET` and `PORTAL_BASE_URL`; without the secret, the one the case database
        keeps (made by the first process that needs it)."""
        secret = settings.portal_secret() or kept_secret(store)
        return cls(secret, settings.portal_base_url())

    def url(self, link_id: str) -> str:
        return link_url(self.base_url, token_of(self.secret, link_id))


def new_link(
    case: CaseRow, *, at: datetime, days: int, attempt_id: str | None = None
) -> PortalLinkRow:
    """A link to `case` valid `days` from `at`, not yet written: a notice writes its link in
    the transaction that writes its outbox row."""
    return PortalLinkRow(
        link_id=new_link_id(),
        case_id=case.case_id,
        loan_id=case.loan_id,
        attempt_id=attempt_id,
        created_at=utc_iso(at),
        expires_at=utc_iso(link_expiry(at, days)),
    )


def make_link(
    store: Store,
    keys: LinkKeys,
    case: CaseRow,
    *,
    at: datetime,
    days: int,
    attempt_id: str | None = None,
) -> str:
    """A link to `case` valid `days` from `at`, written; for `attempt_id`, the one made for it
    before."""
    if attempt_id is not None:
        found = stored_link_of_attempt(store, attempt_id)
        if found is not None:
            return keys.url(found.link_id)
    row = new_link(case, at=at, days=days, attempt_id=attempt_id)
    try:
        with store.session() as session:
            session.add(row)
    except IntegrityError:
        # A concurrent try of the same attempt wrote its link first: that one is the link.
        found = stored_link_of_attempt(store, attempt_id or "")
        if found is None:
            raise
        return keys.url(found.link_id)
    return keys.url(row.link_id)


def stored_link_of_attempt(store: Store, attempt_id: str) -> PortalLinkRow | None:
    with store.reading() as session:
        return session.exec(
            select(PortalLinkRow).where(col(PortalLinkRow.attempt_id) == attempt_id)
        ).first()


def find_link(store: Store, secret: str, token: str) -> PortalLinkRow | None:
    """The link of a genuine token (expired or not); None for a tampered or unknown one."""
    link_id = link_id_of(secret, token)
    return None if link_id is None else store.get(PortalLinkRow, link_id)


def is_expired(link: PortalLinkRow, now: datetime) -> bool:
    return utc_iso(now) >= link.expires_at


def open_case_of_loan(store: Store, loan_id: str) -> CaseRow | None:
    """The loan's open case (a loan re-opened after closing has a new one), if any."""
    with store.reading() as session:
        return session.exec(
            select(CaseRow)
            .where(col(CaseRow.loan_id) == loan_id, col(CaseRow.closed_at).is_(None))
            .order_by(col(CaseRow.opened_at).desc())
        ).first()


LINK_SECRET = "links"
# The secret a case database keeps never changes once made, so each process reads it once per
# database rather than before every notice it sends.
_KEPT_SECRETS: WeakKeyDictionary[Store, str] = WeakKeyDictionary()


def kept_secret(store: Store) -> str:
    """The link secret kept in the case database, made on first use. Two processes making it at
    once both insert-if-absent and read back the one that won."""
    kept = _KEPT_SECRETS.get(store)
    if kept is None:
        kept = _KEPT_SECRETS[store] = _kept_or_made_secret(store)
    return kept


def _kept_or_made_secret(store: Store) -> str:
    found = store.get(PortalSecretRow, LINK_SECRET)
    if found is not None:
        return found.secret
    store.insert_if_absent(
        PortalSecretRow(name=LINK_SECRET, secret=secrets.token_urlsafe(48), created_at=utc_iso())
    )
    kept = store.get(PortalSecretRow, LINK_SECRET)
    if kept is None:  # inserted above, or by the process that won the race: never here
        raise RuntimeError("the portal's link secret could not be kept in the case database")
    return kept.secret
