"""The portal's pure rules: tokens, the policy's link days, codes and limits; and the `{link}`
of every shipped SMS, email and letter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain import portal
from domain.errors import InvalidInput
from domain.notices import NoticeFacts
from templates import loaded_templates

SECRET = "s" * 32
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def test_a_token_is_short_url_safe_and_verified_by_its_tag() -> None:
    link_id = portal.new_link_id()
    token = portal.token_of(SECRET, link_id)
    assert len(token) <= 32 and portal.TOKEN_SHAPE.fullmatch(token)
    assert portal.link_id_of(SECRET, token) == link_id
    assert portal.link_id_of("t" * 32, token) is None
    for index in range(len(token)):
        changed = token[:index] + ("A" if token[index] != "A" else "B") + token[index + 1 :]
        assert portal.link_id_of(SECRET, changed) is None
    assert portal.link_id_of(SECRET, token + "A") is None
    assert portal.link_id_of(SECRET, "") is None


@pytest.mark.parametrize(
    ("raw", "days"), [(None, 30), ({}, 30), ({"link_days": 7}, 7), ({"link_days": 365}, 365)]
)
def test_link_days_default_to_30(raw: object, days: int) -> None:
    assert portal.parse_link_days(raw) == days


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"link_days": 0}, "portal.link_days"),
        ({"link_days": "30"}, "portal.link_days"),
        ({"link_days": True}, "portal.link_days"),
        ({"days": 3}, "portal.days"),
        ([], "portal"),
    ],
)
def test_wrong_link_days_name_the_field(raw: object, field: str) -> None:
    with pytest.raises(InvalidInput) as error:
        portal.parse_link_days(raw)
    assert error.value.field == field


def test_a_code_is_six_digits_kept_as_a_keyed_hash() -> None:
    code = portal.new_code()
    assert len(code) == 6 and code.isdigit()
    kept = portal.code_hash(SECRET, "link", code)
    assert code not in kept
    assert portal.code_matches(SECRET, "link", code, kept)
    assert not portal.code_matches(SECRET, "other", code, kept)
    assert not portal.code_matches(SECRET, "link", "12345", kept)


def test_a_code_is_usable_for_ten_minutes_five_tries_once() -> None:
    fresh = portal.CodeState(sent_at=NOW, tries=0, used=False)
    assert portal.code_usable(fresh, NOW + timedelta(minutes=9, seconds=59))
    assert not portal.code_usable(fresh, NOW + timedelta(minutes=10))
    assert not portal.code_usable(portal.CodeState(NOW, tries=5, used=False), NOW)
    assert not portal.code_usable(portal.CodeState(NOW, tries=0, used=True), NOW)


def test_five_wrong_tries_pause_for_fifteen_minutes() -> None:
    tries = [NOW + timedelta(minutes=i) for i in range(5)]
    assert portal.paused_until(tries[:4]) is None
    assert portal.paused_until(tries) == tries[-1] + timedelta(minutes=15)
    spread = [NOW + timedelta(minutes=10 * i) for i in range(5)]
    assert portal.paused_until(spread) is None


def test_limits_count_the_window_only() -> None:
    times = [NOW - timedelta(minutes=59)] * 4 + [NOW - timedelta(minutes=61)]
    assert portal.within_limit(times, 5, portal.HOUR, NOW)
    assert not portal.within_limit([*times, NOW], 5, portal.HOUR, NOW)


def test_masks_show_where_without_who() -> None:
    assert portal.masked_phone("+86 138 0013 8033") == "•••• 8033"
    assert portal.masked_email("wang@example.com") == "w•••@example.com"


def test_the_portals_messages_are_transactional() -> None:
    assert portal.is_transactional(portal.CODE_TEMPLATE)
    assert portal.is_transactional(portal.LINK_TEMPLATE)
    assert not portal.is_transactional("reminder_friendly")


def test_every_shipped_sms_email_and_letter_carries_the_link() -> None:
    templates = loaded_templates()
    link = "https://pay.example.com/p/" + "T" * 30
    found = 0
    for locale, by_template in templates.texts.items():
        for template, channels in by_template.items():
            for channel in channels:
                facts = NoticeFacts("L1", "Wang", locale, 5, 100_000, "CNY", link=link)
                text = templates.render(template, channel, facts)
                if channel in ("sms", "email", "letter"):
                    assert link in text, (locale, template, channel)
                    found += 1
                else:
                    assert link not in text
    assert found == 18
