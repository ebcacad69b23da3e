"""The channels a ladder step may use, and what each one is: the one table of them.

Everything else is read off it: which channels a policy may name, which send a notice (and to
which of the borrower's details), which render a text, which activity carries a step out
(`contracts.ACTIVITY_FOR_WORK`), how an activity's summary names it, and where a reminder
falls back when its channel cannot reach the borrower.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# What carrying a step out means: a notice sent (SMS, email, letter), a call task queued for
# an agent, a field visit booked, or the file handed to the lawyers.
Work = Literal["notice", "call", "visit", "legal"]


@dataclass(frozen=True)
class Channel:
    name: str
    # As an activity's summary names a step on it ("SMS reminder 2 · DPD 7").
    label: str
    work: Work
    # The borrower's detail a notice goes to (`Borrower.phone`, `.email`, `.address`).
    detail: str | None = None
    # Where a reminder goes when this channel cannot reach the borrower, in order.
    fallbacks: tuple[str, ...] = ()
    # The borrower's detail any contact on it needs (a notice's, the phone an agent calls, the
    # address staff visit): without it nobody can be contacted.
    recipient: str | None = None


CHANNEL_TABLE = (
    Channel(
        "sms",
        "SMS reminder",
        "notice",
        detail="phone",
        fallbacks=("email", "letter"),
        recipient="phone",
    ),
    Channel(
        "email",
        "Email reminder",
        "notice",
        detail="email",
        fallbacks=("sms", "letter"),
        recipient="email",
    ),
    Channel("letter", "Letter", "notice", detail="address", recipient="address"),
    Channel("call", "Call task", "call", recipient="phone"),
    Channel("field_visit", "Field visit", "visit", recipient="address"),
    Channel("legal", "Legal hand-off", "legal"),
)
CHANNEL_BY_NAME = {channel.name: channel for channel in CHANNEL_TABLE}

CHANNELS = tuple(channel.name for channel in CHANNEL_TABLE)
# Channels that contact the borrower (the legal hand-off goes to the lawyers); each renders a
# text: a message, a letter, an agent's call script, what visiting staff say.
CONTACT_CHANNELS = tuple(channel.name for channel in CHANNEL_TABLE if channel.work != "legal")
NOTICE_CHANNELS = tuple(channel.name for channel in CHANNEL_TABLE if channel.work == "notice")
DETAIL_BY_CHANNEL = {
    channel.name: channel.detail for channel in CHANNEL_TABLE if channel.detail is not None
}
RECIPIENT_BY_CHANNEL = {
    channel.name: channel.recipient for channel in CHANNEL_TABLE if channel.recipient is not None
}
