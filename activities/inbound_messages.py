"""Each message the inbound webhooks receive is applied once, and opt-outs and opt-ins in order.

Providers retry, and anyone who captured a signed request can post it again (a Twilio
signature has no time in it): so every message that changed or could change something is
recorded in `inbound_messages` under the provider's own id, in the same transaction as what it
changed, and a message found there is acknowledged and changes nothing. The ids: a Twilio
reply's `MessageSid`; a Twilio status callback's `MessageSid` with its `MessageStatus` (one
message gets several); a SendGrid event's `sg_event_id`, or a digest of the event where it has
none (a replay repeats the same bytes).

Order is what the providers can tell us. An opt-out or opt-in ("word") older than the latest
word applied from the same address (channel and recipient: the person at that number or
mailbox) changes nothing. SendGrid dates every event (`timestamp`): its unsubscribes and
resubscribes are ordered by it, however late a retry brings one. A Twilio reply carries no
time, so arrival is its order; a replayed one is stopped by its MessageSid instead. What
the operator does (`starter.py opt-out`) is not a word in this sense and is not recorded: a
word the borrower sent afterwards still counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from activities.borrower_channels import borrowers_with_phone_in, lift_opt_out, record_opt_out
from activities.providers.base import INBOUND_REPLY
from activities.store import Store
from domain.opt_out import OPT_IN, OPT_OUT
from migrations.tables import InboundMessageRow, utc_iso

APPLIED = "applied"
# The message was applied before: nothing changed.
DUPLICATE = "duplicate"
# An older word than one already applied from that address: nothing changed.
OUT_OF_ORDER = "out_of_order"


@dataclass(frozen=True)
class ReplyOutcome:
    outcome: str
    borrowers: int


def apply_once(
    store: Store, message_key: str, apply: Callable[[Session], tuple[str, InboundMessageRow | None]]
) -> str:
    """Run `apply` and add the row it returns (the message, to be remembered) in one
    transaction, unless `message_key` is recorded already: then DUPLICATE, and nothing runs.
    Returns `apply`'s outcome. `apply` returns no row for a message it could not place (a
    receipt for a message not ours yet), so that a later copy is tried again."""
    with Session(store.engine, expire_on_commit=False) as session:
        if session.get(InboundMessageRow, message_key) is not None:
            return DUPLICATE
        outcome, row = apply(session)
        if row is not None:
            session.add(row)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            # The same message delivered twice at once (PostgreSQL): the other one applied it.
            if session.get(InboundMessageRow, message_key) is not None:
                return DUPLICATE
            raise
    return outcome


def word_is_out_of_order(session: Session, channel: str, recipient: str, said_at: str) -> bool:
    """Whether a word from `recipient` said at `said_at` is older than one applied already."""
    latest = session.exec(
        select(func.max(InboundMessageRow.said_at)).where(
            col(InboundMessageRow.channel) == channel,
            col(InboundMessageRow.recipient) == recipient,
            col(InboundMessageRow.intent).is_not(None),
        )
    ).one()
    return latest is not None and latest > said_at


def message_row(
    message_key: str,
    channel: str,
    *,
    said_at: str | None = None,
    recipient: str | None = None,
    intent: str | None = None,
) -> InboundMessageRow:
    received_at = utc_iso()
    return InboundMessageRow(
        message_key=message_key,
        channel=channel,
        recipient=recipient,
        intent=intent,
        said_at=said_at or received_at,
        received_at=received_at,
    )


def apply_sms_reply(store: Store, message_sid: str, phone: str, intent: str) -> ReplyOutcome:
    """A STOP (OPT_OUT) or START (OPT_IN) from `phone`, once per MessageSid: it speaks for
    every borrower with that number (one person may borrow under several ids)."""
    if intent not in (OPT_OUT, OPT_IN):
        raise ValueError(f"intent: must be {OPT_OUT} or {OPT_IN}, not {intent!r}")
    message_key = f"twilio-inbound:{message_sid}"
    count = 0

    def apply(session: Session) -> tuple[str, InboundMessageRow]:
        nonlocal count
        row = message_row(message_key, "sms", recipient=phone, intent=intent)
        if word_is_out_of_order(session, "sms", phone, row.said_at):
            return OUT_OF_ORDER, row
        borrowers = borrowers_with_phone_in(session, phone)
        for borrower_id in borrowers:
            if intent == OPT_OUT:
                record_opt_out(
                    session,
                    borrower_id,
                    "sms",
                    phone,
                    source=INBOUND_REPLY,
                    reason=f"SMS reply {message_sid}",
                )
            else:
                lift_opt_out(session, borrower_id, "sms", phone)
        count = len(borrowers)
        return APPLIED, row

    outcome = apply_once(store, message_key, apply)
    return ReplyOutcome(outcome, count)
