"""The one table of channels, and what is read off it."""

from __future__ import annotations

import contracts
from domain.case import Borrower
from domain.channels import (
    CHANNEL_TABLE,
    CHANNELS,
    CONTACT_CHANNELS,
    DETAIL_BY_CHANNEL,
    NOTICE_CHANNELS,
    RECIPIENT_BY_CHANNEL,
)
from domain.notices import TEXT_CHANNELS


def test_every_channel_has_an_activity_that_carries_it_out() -> None:
    activities = {
        name: contracts.ACTIVITY_FOR_WORK[c.work] for c in CHANNEL_TABLE for name in [c.name]
    }
    assert activities == {
        "sms": contracts.SEND_NOTICE,
        "email": contracts.SEND_NOTICE,
        "letter": contracts.SEND_NOTICE,
        "call": contracts.QUEUE_CALL,
        "field_visit": contracts.BOOK_FIELD_VISIT,
        "legal": contracts.HAND_OFF_TO_LEGAL,
    }


def test_notices_go_to_a_detail_of_the_borrower_and_fall_back_to_notices() -> None:
    assert NOTICE_CHANNELS == ("sms", "email", "letter")
    fields = set(Borrower.__dataclass_fields__)
    assert set(DETAIL_BY_CHANNEL) == set(NOTICE_CHANNELS)
    assert set(DETAIL_BY_CHANNEL.values()) <= fields
    for channel in CHANNEL_TABLE:
        assert set(channel.fallbacks) <= set(NOTICE_CHANNELS) - {channel.name}


def test_every_contact_goes_to_a_detail_of_the_borrower_a_notice_to_its_own() -> None:
    assert set(RECIPIENT_BY_CHANNEL) == set(CONTACT_CHANNELS)
    assert set(RECIPIENT_BY_CHANNEL.values()) <= set(Borrower.__dataclass_fields__)
    assert {c: RECIPIENT_BY_CHANNEL[c] for c in NOTICE_CHANNELS} == DETAIL_BY_CHANNEL
    assert (RECIPIENT_BY_CHANNEL["call"], RECIPIENT_BY_CHANNEL["field_visit"]) == (
        "phone",
        "address",
    )


def test_every_contact_channel_renders_a_text_and_the_legal_hand_off_none() -> None:
    assert TEXT_CHANNELS == CONTACT_CHANNELS == tuple(c for c in CHANNELS if c != "legal")
