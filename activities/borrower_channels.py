"""Channels a borrower cannot be reached on, across all of their loans (`borrower_channels`).

Three writers share these rules: `send_notice` (a provider refused the recipient for good), the
inbound webhooks (a STOP reply, a bounce) and the operator's `starter.py opt-out`. A row is
keyed by borrower and channel, so every write is idempotent.

Which state wins: an opt-out is the borrower's own word, so it replaces an undeliverable mark,
and an undeliverable mark never replaces an opt-out. Lifting an opt-out (START) leaves no row:
should the provider still refuse the recipient, the next send marks it undeliverable again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import col, select

from activities.providers.base import (
    INBOUND_REPLY,
    OPTED_OUT,
    PROVIDER_REJECTION,
    UNDELIVERABLE,
)
from activities.store import Store, utc_iso
from activities.tables import BorrowerChannelRow, BorrowerRow, CaseRow

CHANNEL_STATES = (OPTED_OUT, UNDELIVERABLE)

OPERATOR = "operator"
SOURCES = (INBOUND_REPLY, OPERATOR, PROVIDER_REJECTION)

# The rule a blocked contact attempt names in its `note`, by the channel's state.
RULE_BY_STATE = {OPTED_OUT: "opt_out", UNDELIVERABLE: "undeliverable"}


@dataclass(frozen=True)
class ChannelChange:
    """What a write did: `changed` is False when the row already said so."""

    borrower_id: str
    channel: str
    state: str | None
    changed: bool


def blocking_rule(store: Store, borrower_id: str, channel: str) -> str | None:
    """The rule that forbids sending on `channel` to the borrower, or None if it is allowed."""
    row = channel_state(store, borrower_id, channel)
    return None if row is None else RULE_BY_STATE.get(row.state, row.state)


def channel_state(store: Store, borrower_id: str, channel: str) -> BorrowerChannelRow | None:
    return store.get(BorrowerChannelRow, (borrower_id, channel))


def opt_out(
    store: Store, borrower_id: str, channel: str, *, source: str, reason: str | None = None
) -> ChannelChange:
    """Record that the borrower does not want `channel`; replaces an undeliverable mark."""
    with store.session() as session:
        row = session.get(BorrowerChannelRow, (borrower_id, channel))
        if row is not None and row.state == OPTED_OUT:
            return ChannelChange(borrower_id, channel, OPTED_OUT, changed=False)
        row = row or BorrowerChannelRow(
            borrower_id=borrower_id, channel=channel, state=OPTED_OUT, source=source, at=""
        )
        row.state, row.source, row.reason, row.at = OPTED_OUT, source, reason, utc_iso()
        session.add(row)
    return ChannelChange(borrower_id, channel, OPTED_OUT, changed=True)


def undo_opt_out(store: Store, borrower_id: str, channel: str) -> ChannelChange:
    """Lift an opt-out (a START reply, the operator); an undeliverable mark stays."""
    with store.session() as session:
        row = session.get(BorrowerChannelRow, (borrower_id, channel))
        if row is None or row.state != OPTED_OUT:
            return ChannelChange(
                borrower_id, channel, None if row is None else row.state, changed=False
            )
        session.delete(row)
    return ChannelChange(borrower_id, channel, None, changed=True)


def mark_undeliverable(
    store: Store, borrower_id: str, channel: str, *, source: str, reason: str | None
) -> ChannelChange:
    """Record that the provider refuses the recipient for good; an opt-out is left as it is."""
    row = BorrowerChannelRow(
        borrower_id=borrower_id,
        channel=channel,
        state=UNDELIVERABLE,
        source=source,
        reason=reason,
        at=utc_iso(),
    )
    inserted = store.insert_if_absent(row)
    return ChannelChange(borrower_id, channel, UNDELIVERABLE, changed=inserted)


def mark(
    store: Store, borrower_id: str, channel: str, state: str, *, source: str, reason: str | None
) -> ChannelChange:
    """Write `state` (opted_out or undeliverable) by the rules above."""
    if state == OPTED_OUT:
        return opt_out(store, borrower_id, channel, source=source, reason=reason)
    if state == UNDELIVERABLE:
        return mark_undeliverable(store, borrower_id, channel, source=source, reason=reason)
    raise ValueError(f"state: must be one of {', '.join(CHANNEL_STATES)}, not {state!r}")


def borrowers_with_phone(store: Store, phone: str) -> Sequence[str]:
    """Every borrower id with this phone number (one person may borrow under several ids)."""
    with store.reading() as session:
        return session.exec(
            select(BorrowerRow.borrower_id)
            .where(col(BorrowerRow.phone) == phone)
            .order_by(col(BorrowerRow.borrower_id))
        ).all()


def borrower_of_case(store: Store, case_id: str) -> str | None:
    case = store.get(CaseRow, case_id)
    return None if case is None else case.borrower_id


def borrower_is_known(store: Store, borrower_id: str) -> bool:
    """Whether any case or contact record names this borrower (guards operators' typos)."""
    if store.get(BorrowerRow, borrower_id) is not None:
        return True
    with store.reading() as session:
        found = session.exec(
            select(CaseRow.case_id).where(col(CaseRow.borrower_id) == borrower_id).limit(1)
        ).first()
    return found is not None
