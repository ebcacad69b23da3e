"""Delivery receipts: what a provider reports about a message after it was sent.

The inbound webhooks (`cli/inbound.py`) turn each vendor's callback into `Receipt`s (the
vendor's own rules are beside its provider in `activities.providers`), and `apply_receipt`
records one on its contact attempt: `delivery_status` and `delivery_updated_at`, and, for a
permanent failure or an unsubscribe, the borrower's channel state at the address the attempt
was sent to. Providers repeat callbacks and send them out of order, so a receipt never moves an
attempt back (a late "sent" after "delivered" is ignored), a report with the provider's id is
applied once, and opt-outs and opt-ins are ordered by the provider's time
(`activities.inbound_messages`).
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from activities.borrower_channels import record_mark
from activities.inbound_messages import (
    DUPLICATE,
    OUT_OF_ORDER,
    apply_once,
    message_row,
    word_is_out_of_order,
)
from activities.providers.base import OPTED_IN, OPTED_OUT, Receipt
from activities.store import Store
from domain.opt_out import OPT_IN, OPT_OUT
from migrations.tables import CaseRow, ContactAttemptRow, InboundMessageRow, utc_iso

# How far along a message is; a receipt of a lower rank than the stored one is stale.
STATUS_RANK = {
    "accepted": 0,
    "queued": 0,
    "sending": 0,
    "processed": 0,
    "sent": 1,
    "deferred": 1,
    "delivered": 2,
    "undelivered": 2,
    "failed": 2,
    "bounce": 2,
    "dropped": 2,
}
DELIVERY_STATUSES = tuple(STATUS_RANK)

UPDATED = "updated"
STALE = "stale"
UNKNOWN = "unknown"
# Also returned: DUPLICATE (this very report was applied before), OUT_OF_ORDER (an opt-out or
# opt-in older than one applied from that address).
__all__ = ["DUPLICATE", "OUT_OF_ORDER", "STALE", "UNKNOWN", "UPDATED", "apply_receipt"]

# A receipt's opt-out or opt-in, as a word (`activities.inbound_messages`).
INTENT_BY_STATE = {OPTED_OUT: OPT_OUT, OPTED_IN: OPT_IN}


def apply_receipt(store: Store, receipt: Receipt, message_key: str | None = None) -> str:
    """Record `receipt`; returns "updated", "stale" (an older report, ignored), "unknown" (no
    attempt of ours has that message id), "duplicate" or "out_of_order".

    With `message_key` (the provider's id of this report) the receipt is applied once; a
    channel mark goes to the address the attempt was sent to."""
    if message_key is None:
        with store.session() as session:
            outcome, _ = _apply(session, receipt, None)
        return outcome
    return apply_once(store, message_key, lambda session: _apply(session, receipt, message_key))


def _apply(
    session: Session, receipt: Receipt, message_key: str | None
) -> tuple[str, InboundMessageRow | None]:
    attempt = _attempt_of(session, receipt)
    if attempt is None:
        # Not remembered: the message may yet become ours (a callback before the send's
        # answer was stored), and its provider's retry should then find it.
        return UNKNOWN, None
    case = session.get(CaseRow, attempt.case_id)
    outcome = STALE
    if receipt.status is not None and _is_newer(receipt.status, attempt.delivery_status):
        attempt.delivery_status = receipt.status
        attempt.delivery_updated_at = utc_iso()
        session.add(attempt)
        outcome = UPDATED
    # An opt-out or opt-in is ordered among the words from the address it was sent to.
    intent = INTENT_BY_STATE.get(receipt.channel_state or "")
    word_from = attempt.recipient if intent is not None else None
    row = None
    if message_key is not None:
        row = message_row(
            message_key,
            receipt.channel,
            said_at=receipt.said_at,
            recipient=word_from,
            intent=intent if word_from is not None else None,
        )
    if receipt.channel_state is not None and case is not None:
        if (
            row is not None
            and word_from is not None
            and word_is_out_of_order(session, receipt.channel, word_from, row.said_at)
        ):
            return OUT_OF_ORDER, row
        change = record_mark(
            session,
            case.borrower_id,
            receipt.channel,
            receipt.channel_state,
            attempt.recipient,
            source=receipt.source,
            reason=f"{attempt.attempt_id}: {receipt.reason or receipt.status}",
        )
        if change.changed:
            outcome = UPDATED
    return outcome, row


def _attempt_of(session: Session, receipt: Receipt) -> ContactAttemptRow | None:
    if receipt.provider_refs:
        found = session.exec(
            select(ContactAttemptRow)
            .where(
                col(ContactAttemptRow.provider_ref).in_(receipt.provider_refs),
                col(ContactAttemptRow.channel) == receipt.channel,
            )
            .limit(1)
        ).first()
        if found is not None:
            return found
    if receipt.attempt_id:
        attempt = session.get(ContactAttemptRow, receipt.attempt_id)
        if attempt is not None and attempt.channel == receipt.channel:
            return attempt
    return None


def _is_newer(status: str, stored: str | None) -> bool:
    if stored is None:
        return True
    if status == stored:
        return False
    return STATUS_RANK.get(status, 0) >= STATUS_RANK.get(stored, 0)
