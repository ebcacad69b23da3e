"""The portal's own messages (a one-time code, a new link): transactional, asked for by the
borrower, so no collection contact. They take the same road as any notice: written to the
outbox (`contact_attempts`, template `portal_code` / `portal_link`) before the provider is
called, honouring a channel's opt-out or undeliverable mark, but they count against no cap
(`domain.portal.is_transactional`). Their text is never logged: a code in a log is a key."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from activities.borrower_channels import blocking_rule
from activities.notify import DeliveryRejected, DeliveryUnavailable, OutboundMessage
from activities.store import Store
from domain.portal import masked_email, masked_phone
from migrations.tables import BorrowerRow, CaseRow, ContactAttemptRow, utc_iso
from web.context import WebContext

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Destination:
    """Where the portal's message to a borrower goes: the phone, else the email, on file."""

    channel: str
    recipient: str
    shown: str  # masked, for the page: "•••• 8033"


def destination(store: Store, case: CaseRow) -> tuple[BorrowerRow | None, Destination | None]:
    borrower = store.get(BorrowerRow, case.borrower_id)
    if borrower is None:
        return None, None
    for channel, recipient in (("sms", borrower.phone), ("email", borrower.email)):
        if recipient and blocking_rule(store, borrower.borrower_id, channel, recipient) is None:
            shown = masked_phone(recipient) if channel == "sms" else masked_email(recipient)
            return borrower, Destination(channel, recipient, shown)
    return borrower, None


def send_transactional(
    web: WebContext, case: CaseRow, to: Destination, template: str, text: str, now: datetime
) -> str | None:
    """Write the message to the outbox, then send it; its attempt id, or None if the provider
    refused it or is unavailable (the borrower may ask again; nothing is retried blind)."""
    attempt_id = f"portal-{uuid.uuid4().hex}"
    row = ContactAttemptRow(
        attempt_id=attempt_id,
        case_id=case.case_id,
        loan_id=case.loan_id,
        channel=to.channel,
        template=template,
        recipient=to.recipient,
        body=text,
        status="pending",
        created_at=utc_iso(now),
        send_tries=1,
        send_started_at=utc_iso(now),
    )
    web.store.insert_if_absent(row)
    message = OutboundMessage(
        idempotency_key=attempt_id, channel=to.channel, to=to.recipient, body=text
    )
    try:
        delivery = web.sender().deliver(message)
    except (DeliveryRejected, DeliveryUnavailable) as error:
        web.store.update(
            ContactAttemptRow, attempt_id, status="failed", result="failed", note=str(error)
        )
        log.warning(
            "portal %s not sent (%s): attempt_id=%s", template, type(error).__name__, attempt_id
        )
        return None
    web.store.update(
        ContactAttemptRow,
        attempt_id,
        status="sent",
        result="sent",
        provider_ref=delivery.provider_ref,
        sent_at=utc_iso(now),
    )
    log.info("portal %s sent via %s: attempt_id=%s", template, delivery.via, attempt_id)
    return attempt_id
