"""Addresses a borrower cannot be reached at, across all of their loans (`borrower_channels`).

Three writers share these rules: `send_notice` (a provider refused the recipient for good), the
inbound webhooks (a STOP reply, a bounce) and the operator's `starter.py opt-out`. A row is
keyed by borrower, channel and recipient, so every write is idempotent.

A mark belongs to the address it was found for (the number, mailbox or postal address, as the
borrowers table and the outbox hold it): a bounce says that mailbox is dead, a STOP says the
person at that number wants no texts. When the borrower's phone or email changes (a newer case
brings another one), the new address starts clean, and the old address keeps its marks: should
the borrower's details ever name it again, it is blocked again. Only the case database holds
the addresses; logs name borrower ids and channels only.

A mark made before addresses were kept, for a borrower who had no address on record for that
channel when the database was migrated, has recipient "": an opt-out of that kind holds for
every address of the channel (we cannot tell which one the borrower spoke for) until it is
lifted; an undeliverable mark of that kind blocks nothing (its address is gone).

Which state wins: an opt-out is the borrower's own word, so it replaces an undeliverable mark,
and an undeliverable mark never replaces an opt-out. Lifting an opt-out (START) leaves no row:
should the provider still refuse the recipient, the next send marks it undeliverable again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Concatenate, ParamSpec

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from activities.providers.base import (
    INBOUND_REPLY,
    OPTED_IN,
    OPTED_OUT,
    PROVIDER_REJECTION,
    UNDELIVERABLE,
)
from activities.store import Store, add_if_absent
from domain.channels import DETAIL_BY_CHANNEL
from migrations.tables import BorrowerChannelRow, BorrowerRow, CaseRow, utc_iso

Params = ParamSpec("Params")

CHANNEL_STATES = (OPTED_OUT, UNDELIVERABLE)

OPERATOR = "operator"
SOURCES = (INBOUND_REPLY, OPERATOR, PROVIDER_REJECTION)

# The rule a blocked contact attempt names in its `note`, by the channel's state.
RULE_BY_STATE = {OPTED_OUT: "opt_out", UNDELIVERABLE: "undeliverable"}

# The recipient of a mark whose address was not known (see the module's note).
UNKNOWN_RECIPIENT = ""


@dataclass(frozen=True)
class ChannelChange:
    """What a write did: `changed` is False when the row already said so."""

    borrower_id: str
    channel: str
    state: str | None
    changed: bool


def blocking_rule(
    store: Store, borrower_id: str, channel: str, recipient: str | None = None
) -> str | None:
    """The rule that forbids sending on `channel` to `recipient` (default: the borrower's
    current address on record), or None if it is allowed."""
    row = channel_state(store, borrower_id, channel, recipient)
    return None if row is None else RULE_BY_STATE.get(row.state, row.state)


def channel_state(
    store: Store, borrower_id: str, channel: str, recipient: str | None = None
) -> BorrowerChannelRow | None:
    """The mark that governs `recipient` (default: the borrower's current address), if any;
    an opt-out before an undeliverable mark."""
    with store.reading() as session:
        return _governing(session, borrower_id, channel, recipient)


def current_recipient(session: Session, borrower_id: str, channel: str) -> str:
    """The borrower's address on record for `channel`; UNKNOWN_RECIPIENT if none."""
    borrower = session.get(BorrowerRow, borrower_id)
    detail = DETAIL_BY_CHANNEL.get(channel)
    value = getattr(borrower, detail) if borrower is not None and detail is not None else None
    return value if isinstance(value, str) else UNKNOWN_RECIPIENT


def _governing(
    session: Session, borrower_id: str, channel: str, recipient: str | None
) -> BorrowerChannelRow | None:
    if recipient is None:
        recipient = current_recipient(session, borrower_id, channel)
    marks = session.exec(
        select(BorrowerChannelRow).where(
            col(BorrowerChannelRow.borrower_id) == borrower_id,
            col(BorrowerChannelRow.channel) == channel,
            or_(
                col(BorrowerChannelRow.recipient) == recipient,
                and_(
                    col(BorrowerChannelRow.recipient) == UNKNOWN_RECIPIENT,
                    col(BorrowerChannelRow.state) == OPTED_OUT,
                ),
            ),
        )
    ).all()
    # An opt-out before an undeliverable mark; the address's own row before one of unknown
    # address.
    ranked = sorted(marks, key=lambda row: (row.state != OPTED_OUT, row.recipient != recipient))
    return ranked[0] if ranked else None


# -- writes, each in the caller's transaction (the webhooks record the message with it) ----------


def record_opt_out(
    session: Session,
    borrower_id: str,
    channel: str,
    recipient: str | None = None,
    *,
    source: str,
    reason: str | None = None,
) -> ChannelChange:
    """Record that the borrower does not want `channel` at `recipient` (default: their
    current address); replaces an undeliverable mark of that address."""
    if recipient is None:
        recipient = current_recipient(session, borrower_id, channel)
    row = session.get(BorrowerChannelRow, (borrower_id, channel, recipient))
    if row is not None and row.state == OPTED_OUT:
        return ChannelChange(borrower_id, channel, OPTED_OUT, changed=False)
    row = row or BorrowerChannelRow(
        borrower_id=borrower_id,
        channel=channel,
        recipient=recipient,
        state=OPTED_OUT,
        source=source,
        at="",
    )
    row.state, row.source, row.reason, row.at = OPTED_OUT, source, reason, utc_iso()
    session.add(row)
    return ChannelChange(borrower_id, channel, OPTED_OUT, changed=True)


def lift_opt_out(
    session: Session, borrower_id: str, channel: str, recipient: str | None = None
) -> ChannelChange:
    """Lift the opt-out of `recipient` (default: the current address), and one of unknown
    address, which may have been that one; an undeliverable mark stays."""
    if recipient is None:
        recipient = current_recipient(session, borrower_id, channel)
    lifted = False
    for address in dict.fromkeys((recipient, UNKNOWN_RECIPIENT)):
        row = session.get(BorrowerChannelRow, (borrower_id, channel, address))
        if row is not None and row.state == OPTED_OUT:
            session.delete(row)
            lifted = True
    if lifted:
        session.flush()
        return ChannelChange(borrower_id, channel, None, changed=True)
    left = _governing(session, borrower_id, channel, recipient)
    return ChannelChange(borrower_id, channel, None if left is None else left.state, changed=False)


def record_undeliverable(
    session: Session,
    borrower_id: str,
    channel: str,
    recipient: str | None = None,
    *,
    source: str,
    reason: str | None,
) -> ChannelChange:
    """Record that the provider refuses `recipient` for good; an opt-out is left as it is."""
    if recipient is None:
        recipient = current_recipient(session, borrower_id, channel)
    row = BorrowerChannelRow(
        borrower_id=borrower_id,
        channel=channel,
        recipient=recipient,
        state=UNDELIVERABLE,
        source=source,
        reason=reason,
        at=utc_iso(),
    )
    added = add_if_absent(session, row)
    return ChannelChange(borrower_id, channel, UNDELIVERABLE, changed=added)


def record_mark(
    session: Session,
    borrower_id: str,
    channel: str,
    state: str,
    recipient: str | None = None,
    *,
    source: str,
    reason: str | None,
) -> ChannelChange:
    """Write `state` (opted_out, undeliverable; opted_in lifts an opt-out) by the rules above."""
    if state == OPTED_OUT:
        return record_opt_out(
            session, borrower_id, channel, recipient, source=source, reason=reason
        )
    if state == UNDELIVERABLE:
        return record_undeliverable(
            session, borrower_id, channel, recipient, source=source, reason=reason
        )
    if state == OPTED_IN:
        return lift_opt_out(session, borrower_id, channel, recipient)
    raise ValueError(f"state: must be one of {', '.join(CHANNEL_STATES)}, not {state!r}")


# -- the same, each in a transaction of its own ---------------------------------------------------


def _in_own_transaction(
    write: Callable[Concatenate[Session, Params], ChannelChange],
) -> Callable[Concatenate[Store, Params], ChannelChange]:
    """`write`, taking a store instead of a session: in a transaction of its own. Two workers
    may find the same refusal at once; the one that loses the race writes again and finds the
    other one's row."""

    def run(store: Store, /, *args: Params.args, **kwargs: Params.kwargs) -> ChannelChange:
        return store.write_racing(lambda session: write(session, *args, **kwargs))

    run.__doc__ = write.__doc__
    return run


opt_out = _in_own_transaction(record_opt_out)
undo_opt_out = _in_own_transaction(lift_opt_out)
mark_undeliverable = _in_own_transaction(record_undeliverable)
mark = _in_own_transaction(record_mark)


# -- lookups ---------------------------------------------------------------------------------------


def borrowers_with_phone(store: Store, phone: str) -> Sequence[str]:
    """Every borrower id with this phone number (one person may borrow under several ids)."""
    with store.reading() as session:
        return borrowers_with_phone_in(session, phone)


def borrowers_with_phone_in(session: Session, phone: str) -> Sequence[str]:
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
