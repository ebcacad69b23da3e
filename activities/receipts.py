"""Delivery receipts: what a provider reports about a message after it was sent.

The inbound webhooks (`cli/inbound.py`) turn each vendor's callback into `Receipt`s (the
vendor's own rules are beside its provider in `activities.providers`), and `apply_receipt`
records one on its contact attempt: `delivery_status` and `delivery_updated_at`, and, for a
permanent failure, the borrower's channel state. Providers repeat callbacks and send them out
of order, so a receipt never moves an attempt back (a late "sent" after "delivered" is ignored)
and applying one twice changes nothing.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from activities.borrower_channels import mark
from activities.providers.base import Receipt
from activities.store import Store, utc_iso
from activities.tables import CaseRow, ContactAttemptRow

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


def apply_receipt(store: Store, receipt: Receipt) -> str:
    """Record `receipt`; returns "updated", "stale" (an older report, ignored) or "unknown"
    (no attempt of ours has that message id)."""
    with store.session() as session:
        attempt = _attempt_of(session, receipt)
        if attempt is None:
            return UNKNOWN
        case = session.get(CaseRow, attempt.case_id)
        attempt_id = attempt.attempt_id
        outcome = STALE
        if receipt.status is not None and _is_newer(receipt.status, attempt.delivery_status):
            attempt.delivery_status = receipt.status
            attempt.delivery_updated_at = utc_iso()
            session.add(attempt)
            outcome = UPDATED
    if receipt.channel_state is not None and case is not None:
        change = mark(
            store,
            case.borrower_id,
            receipt.channel,
            receipt.channel_state,
            source=receipt.source,
            reason=f"{attempt_id}: {receipt.reason or receipt.status}",
        )
        if change.changed:
            outcome = UPDATED
    return outcome


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
