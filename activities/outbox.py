"""The outbox (`contact_attempts`): its vocabulary, and the rows and answers of a contact.

Every contact is written here before anything leaves the system, keyed by the attempt id the
case chose, so a retry or a re-run finds it and answers what the first run did.
"""

from __future__ import annotations

from collections.abc import Mapping

from activities.failures import policy_named, rejected
from contracts import ContactRequest, ContactResult
from domain.case import Borrower
from domain.channels import RECIPIENT_BY_CHANNEL
from domain.debt import COMPONENTS, Parts
from domain.notices import NoticeFacts
from migrations.tables import BorrowerRow, CaseRow, ContactAttemptRow, utc_iso
from templates import render_notice

# An outbox row whose send was given up half-way: maybe delivered, maybe not.
UNCONFIRMED = "unconfirmed"
# Outbox rows a send may (still) deliver, under the row's own idempotency key.
SENDABLE = ("pending", UNCONFIRMED)

# The answer an activity gives for the status of its outbox row; a later outcome overwrites the
# row's `result`, but a repeated call must still answer what the first one did.
RESULT_BY_STATUS = {
    "sent": "sent",
    "unconfirmed": "unconfirmed",
    "skipped": "skipped_no_contact",
    "queued": "queued",
    "booked": "booked",
    "referred": "referred",
    "blocked": "blocked",
}


def case_result(row: ContactAttemptRow) -> str:
    """What the case records of this attempt (`Contact.result`), by the row's status: the
    answer the activity gives, or the status itself where it gives none (a send still pending;
    a provider's final refusal, which the case records as "failed")."""
    return status_result(row.status)


def status_result(status: str) -> str:
    """What the case records of an attempt whose row has `status` (see `case_result`)."""
    return RESULT_BY_STATUS.get(status, status)


def contact_detail(channel: str, borrower: BorrowerRow | None) -> str | None:
    """Where a contact on `channel` goes (a number, an address, a mailbox), if known."""
    detail = RECIPIENT_BY_CHANNEL.get(channel)
    if borrower is None or detail is None:
        return None
    value = getattr(borrower, detail)
    return value if isinstance(value, str) else None


def notice_body(
    request: ContactRequest, borrower: BorrowerRow | None, case: CaseRow | None, link: str = ""
) -> str:
    facts = NoticeFacts(
        loan_id=request.loan_id,
        borrower_name=borrower.name if borrower else None,
        # Without the borrower's row nothing is sent; the recorded text is in the default locale.
        locale=borrower.locale if borrower else Borrower.locale,
        days_past_due=request.days_past_due,
        outstanding_minor=request.outstanding_minor,
        currency=request.currency,
        # The parts as of the step's decision, the same moment as the amount.
        parts=None if request.balance is None else parts_of(request.balance),
        link=link,
    )
    # The opt-out line unless the case's policy does without it (every shipped one has it).
    opt_out_notice = policy_named(case.policy).opt_out_notice if case is not None else True
    return render_notice(request.template, request.channel, facts, opt_out_notice=opt_out_notice)


def parts_of(balance: Mapping[str, int]) -> Parts:
    """`Parts.as_json()` read back; a part the request does not name is 0."""
    return Parts(**{f"{c}_minor": int(balance.get(f"{c}_minor", 0)) for c in COMPONENTS})


def attempt_row(
    request: ContactRequest, *, recipient: str | None, status: str, body: str
) -> ContactAttemptRow:
    return ContactAttemptRow(
        attempt_id=request.attempt_id,
        case_id=request.case_id,
        loan_id=request.loan_id,
        channel=request.channel,
        template=request.template,
        recipient=recipient,
        body=body,
        status=status,
        result=RESULT_BY_STATUS.get(status),
        days_past_due=request.days_past_due,
        # The case's moment of the contact (workflow time), the one its caps count by.
        created_at=utc_iso(request.scheduled_at),
    )


def result_of(row: ContactAttemptRow) -> ContactResult:
    if row.status == "failed":
        # A re-run after a permanent refusal gets the same refusal, not a second try.
        raise rejected(f"{row.channel} provider rejected the message earlier")
    return ContactResult(
        attempt_id=row.attempt_id,
        result=RESULT_BY_STATUS[row.status],
        provider_ref=row.provider_ref,
        rule=row.note if row.status == "blocked" else None,
    )
