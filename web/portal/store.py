"""The portal's rows (migrations/portal_tables.py) over the case database's `Store`: events
counted for the rate limits and kept as the record of openings and sign-ins, and the codes."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from activities.store import Store
from migrations.portal_tables import PortalCodeRow, PortalEventRow
from migrations.tables import utc_iso


def record_event(
    store: Store, kind: str, *, at: datetime, link_id: str = "", case_id: str = "", client: str = ""
) -> None:
    with store.session() as session:
        session.add(
            PortalEventRow(
                kind=kind, link_id=link_id, case_id=case_id, client=client[:64], at=utc_iso(at)
            )
        )


def event_times(
    store: Store,
    kind: str,
    *,
    since: datetime,
    link_id: str | None = None,
    case_id: str | None = None,
    client: str | None = None,
) -> list[datetime]:
    """When events of `kind` happened since `since`, oldest first, for one link, case or client."""
    statement = select(PortalEventRow.at).where(
        col(PortalEventRow.kind) == kind, col(PortalEventRow.at) >= utc_iso(since)
    )
    if link_id is not None:
        statement = statement.where(col(PortalEventRow.link_id) == link_id)
    if case_id is not None:
        statement = statement.where(col(PortalEventRow.case_id) == case_id)
    if client is not None:
        statement = statement.where(col(PortalEventRow.client) == client[:64])
    with store.reading() as session:
        found = session.exec(statement.order_by(col(PortalEventRow.at))).all()
    return [datetime.fromisoformat(at) for at in found]


def latest_code(store: Store, link_id: str) -> PortalCodeRow | None:
    with store.reading() as session:
        return session.exec(
            select(PortalCodeRow)
            .where(col(PortalCodeRow.link_id) == link_id)
            .order_by(col(PortalCodeRow.sent_at).desc(), col(PortalCodeRow.id).desc())
        ).first()


def add_code(store: Store, row: PortalCodeRow) -> None:
    with store.session() as session:
        session.add(row)
