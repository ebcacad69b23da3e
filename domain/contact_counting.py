"""Which of a case's contacts count against the policy's caps, and as what.

The case counts its own contacts when it decides (`domain.decide`); the activities count the
borrower's contacts over all loans (`activities.contact_caps`) with the same `earlier_contact`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from domain.caps import REFUSED_FOR_GOOD, EarlierContact, counts_against_caps
from domain.case_records import Contact

# How far back the borrower's contacts on all of their loans are counted when a contact goes
# out: the longest any cap looks back is 7 local days; a day more covers every timezone.
CROSS_LOAN_LOOKBACK = timedelta(days=8)

# A call's result once its outcome is recorded: somebody answered (the borrower, in all but
# `wrong_number`, so that was a conversation with them), or nobody did.
CONVERSATION_RESULTS = ("reached", "refused", "promised", "disputed")
CONNECTED_RESULTS = (*CONVERSATION_RESULTS, "wrong_number")
UNANSWERED_RESULTS = ("no_answer",)


def earlier_contacts(
    contacts: Iterable[Contact], *, refused_sends_count: bool = False
) -> list[EarlierContact]:
    """The case's contacts as the caps count them (a call to the case's one phone number):
    by `counts_against_caps`, except that a case begun before that rule was shared also
    counts a send the provider refused for good, as it did when it decided (its history
    must replay to the same decisions)."""
    return [
        earlier_contact(contact.channel, datetime.fromisoformat(contact.at), contact.result)
        for contact in contacts
        if counts_against_caps(contact.result)
        or (refused_sends_count and contact.result == REFUSED_FOR_GOOD)
    ]


def earlier_contact(
    channel: str, at: datetime, result: str | None, *, number: str | None = None
) -> EarlierContact:
    """One contact as the caps count it; a call's result says whether it connected and
    whether it was a conversation (unknown until the agent records the outcome)."""
    return EarlierContact(
        channel=channel,
        at=at,
        connected=(
            True if result in CONNECTED_RESULTS else False if result in UNANSWERED_RESULTS else None
        ),
        conversation=result in CONVERSATION_RESULTS,
        number=number,
    )
