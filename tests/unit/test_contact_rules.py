"""The contact window in the borrower's local time: weekdays, holidays, and every change of the
clocks (the skipped hour, the repeated hour, a skipped midnight, a skipped day).

The properties compare `next_contact_time`, `window_closes_at` and `local_day_ends` with a
brute-force scan, minute by minute, of what the borrower's wall clock shows, across every IANA
zone and many of their changes of offset.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.contact_rules import (
    is_inside,
    local_day_ends,
    next_contact_time,
    window_closes_at,
)
from domain.policy import ContactWindow, DayHours
from tests.helpers.contact_windows import (
    MINUTE,
    first_whole_minute_after,
    inside,
    moments,
    offset_changes,
    utc,
    windows,
)

EVERY_DAY = ContactWindow(start_minute=8 * 60, end_minute=21 * 60)


def window(start: str, end: str, **more: object) -> ContactWindow:
    def minutes(text: str) -> int:
        hours, minutes = text.split(":")
        return int(hours) * 60 + int(minutes)

    return ContactWindow(minutes(start), minutes(end), **more)  # type: ignore[arg-type]


# -- examples across changes of the clocks -------------------------------------
def test_a_window_opening_at_eight_on_a_spring_forward_day_opens_at_eight_new_time() -> None:
    # New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00 UTC).
    opened = next_contact_time(
        utc(2026, 3, 8, 5, 30), timezone="America/New_York", window=EVERY_DAY
    )
    assert opened == utc(2026, 3, 8, 12, 0)  # 08:00 EDT, not 08:00 EST (13:00 UTC)
    assert opened.isoformat() == "2026-03-08T08:00:00-04:00"


def test_a_window_opening_inside_the_skipped_hour_opens_when_the_clocks_jump() -> None:
    # 02:30 does not exist that night: the first moment the clock shows 02:30 or later is
    # the jump itself, to 03:00 EDT.
    gap = window("02:30", "05:00")
    opened = next_contact_time(utc(2026, 3, 8, 5, 0), timezone="America/New_York", window=gap)
    assert opened == utc(2026, 3, 8, 7, 0)
    assert opened.isoformat() == "2026-03-08T03:00:00-04:00"


def test_a_window_closing_inside_the_skipped_hour_closes_when_the_clocks_jump() -> None:
    closes = window_closes_at(
        utc(2026, 3, 8, 6, 0), timezone="America/New_York", window=window("00:00", "02:30")
    )
    assert closes == utc(2026, 3, 8, 7, 0)


def test_the_repeated_hour_is_inside_both_times_the_clock_shows_it() -> None:
    # New York, 2026-11-01: 02:00 EDT falls back to 01:00 EST (06:00 UTC); 01:00-02:00 twice.
    early = window("00:00", "01:30")
    first = utc(2026, 11, 1, 5, 10)  # 01:10 EDT
    assert window_closes_at(first, timezone="America/New_York", window=early) == utc(
        2026, 11, 1, 5, 30
    )
    # 01:40 EDT is outside; the clock shows 01:00 again at the fall-back: inside again.
    between = utc(2026, 11, 1, 5, 40)
    assert next_contact_time(between, timezone="America/New_York", window=early) == utc(
        2026, 11, 1, 6, 0
    )
    assert window_closes_at(
        utc(2026, 11, 1, 6, 0), timezone="America/New_York", window=early
    ) == utc(2026, 11, 1, 6, 30)  # 01:30 EST


def test_a_window_spanning_the_fall_back_stays_open_through_it() -> None:
    spanning = window("01:30", "08:00")
    opened = next_contact_time(utc(2026, 11, 1, 4, 0), timezone="America/New_York", window=spanning)
    assert opened == utc(2026, 11, 1, 5, 30)  # the first 01:30 (EDT)
    # Through 01:59 EDT, back to 01:00 EST (outside: before 01:30), then 01:30 EST again.
    assert window_closes_at(opened, timezone="America/New_York", window=spanning) == utc(
        2026, 11, 1, 6, 0
    )
    assert next_contact_time(
        utc(2026, 11, 1, 6, 0), timezone="America/New_York", window=spanning
    ) == utc(2026, 11, 1, 6, 30)
    assert window_closes_at(
        utc(2026, 11, 1, 6, 30), timezone="America/New_York", window=spanning
    ) == utc(2026, 11, 1, 13, 0)  # 08:00 EST


def test_a_result_in_the_repeated_hour_compares_exactly() -> None:
    # An aware datetime in a ZoneInfo inside the repeated hour never compares equal to one in
    # another zone; the result carries a fixed offset, so it does.
    opened = next_contact_time(
        utc(2026, 11, 1, 5, 0), timezone="America/New_York", window=window("01:30", "08:00")
    )
    assert opened == utc(2026, 11, 1, 5, 30)
    assert opened.isoformat() == "2026-11-01T01:30:00-04:00"


def test_a_skipped_midnight_starts_the_day_at_the_jump() -> None:
    # Santiago, 2026-09-06: 00:00 jumps to 01:00 (04:00 UTC).
    assert local_day_ends(utc(2026, 9, 6, 1, 0), timezone="America/Santiago") == utc(
        2026, 9, 6, 4, 0
    )
    opened = next_contact_time(
        utc(2026, 9, 6, 2, 0), timezone="America/Santiago", window=window("00:00", "06:00")
    )
    assert opened.isoformat() == "2026-09-06T01:00:00-03:00"


def test_a_day_that_comes_back_after_midnight_is_that_day_again() -> None:
    # Santiago, 2026-04-05: at what would be 00:00 (03:00 UTC) the clocks go back to 23:00 of
    # April 4, so April 4 lasts 25 hours and its late window is open twice.
    late = window("23:00", "23:59")
    first = utc(2026, 4, 5, 2, 30)  # 23:30 -03
    assert local_day_ends(first, timezone="America/Santiago") == utc(2026, 4, 5, 4, 0)
    assert window_closes_at(first, timezone="America/Santiago", window=late) == utc(
        2026, 4, 5, 2, 59
    )
    reopened = next_contact_time(utc(2026, 4, 5, 2, 59), timezone="America/Santiago", window=late)
    assert reopened.isoformat() == "2026-04-04T23:00:00-04:00"


def test_a_skipped_day_has_no_window() -> None:
    # Samoa skipped 2011-12-30: the clocks went from the 29th 23:59 to the 31st 00:00.
    opened = next_contact_time(
        datetime(2011, 12, 29, 22, 0, tzinfo=ZoneInfo("Pacific/Apia")),
        timezone="Pacific/Apia",
        window=EVERY_DAY,
    )
    assert opened.isoformat() == "2011-12-31T08:00:00+14:00"


# -- weekdays and holidays -----------------------------------------------------
WEEKEND = ContactWindow(
    8 * 60,
    21 * 60,
    weekdays=(DayHours(5, 9 * 60, 18 * 60), DayHours(6)),  # sat 09:00-18:00, sun none
    holidays=("2026-12-25",),
)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def at_shanghai(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI)


def test_a_weekday_with_its_own_hours_opens_and_closes_at_them() -> None:
    # 2026-12-05 is a Saturday.
    assert next_contact_time(
        at_shanghai(5, 8, 30), timezone="Asia/Shanghai", window=WEEKEND
    ) == at_shanghai(5, 9)
    assert window_closes_at(
        at_shanghai(5, 12), timezone="Asia/Shanghai", window=WEEKEND
    ) == at_shanghai(5, 18)


def test_a_closed_weekday_waits_for_the_next_open_day() -> None:
    # Saturday evening and all of Sunday: Monday 08:00.
    for moment in (at_shanghai(5, 18, 30), at_shanghai(6, 12)):
        assert next_contact_time(moment, timezone="Asia/Shanghai", window=WEEKEND) == at_shanghai(
            7, 8
        )


def test_a_holiday_has_no_window() -> None:
    # Friday 2026-12-25 is listed: Christmas Eve after hours waits until Saturday 09:00.
    assert not is_inside(at_shanghai(25, 12), timezone="Asia/Shanghai", window=WEEKEND)
    assert next_contact_time(
        at_shanghai(24, 22), timezone="Asia/Shanghai", window=WEEKEND
    ) == at_shanghai(26, 9)


def test_outside_the_window_it_closes_at_once() -> None:
    night = at_shanghai(3, 23)
    assert window_closes_at(night, timezone="Asia/Shanghai", window=EVERY_DAY) == night


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, datetime, ContactWindow]:
    """A zone, an instant and a window with up to three holidays in the days around it."""
    name, moment = draw(moments())
    today = moment.astimezone(ZoneInfo(name)).date()
    holidays = {
        (today + timedelta(days=offset)).isoformat()
        for offset in draw(st.lists(st.integers(-1, 5), max_size=3))
    }
    return name, moment, replace(draw(windows()), holidays=tuple(sorted(holidays)))


HORIZON = timedelta(days=12)


@settings(max_examples=300, deadline=None)
@given(cases())
def test_next_contact_time_is_the_first_allowed_moment(
    case: tuple[str, datetime, ContactWindow],
) -> None:
    name, earliest, window = case
    zone = ZoneInfo(name)
    found = next_contact_time(earliest, timezone=name, window=window)
    assert found >= earliest
    assert inside(found, zone, window)
    # Nothing earlier: scan from `earliest`, then every whole minute (the window's edges and
    # the zone's changes all fall on whole minutes).
    expected = earliest if inside(earliest, zone, window) else None
    probe = first_whole_minute_after(earliest)
    while expected is None and probe < earliest + HORIZON:
        if inside(probe, zone, window):
            expected = probe
        probe += MINUTE
    if expected is None:
        assert found >= earliest + HORIZON
    else:
        assert found == expected


@settings(max_examples=300, deadline=None)
@given(cases())
def test_window_closes_at_the_first_moment_outside(
    case: tuple[str, datetime, ContactWindow],
) -> None:
    name, moment, window = case
    zone = ZoneInfo(name)
    closes = window_closes_at(moment, timezone=name, window=window)
    if not inside(moment, zone, window):
        assert closes == moment
        return
    probe = first_whole_minute_after(moment)
    while inside(probe, zone, window):
        probe += MINUTE
    assert closes == probe


@settings(max_examples=200, deadline=None)
@given(moments())
def test_the_local_day_ends_when_the_wall_clock_shows_another_date(
    zone_and_moment: tuple[str, datetime],
) -> None:
    name, moment = zone_and_moment
    zone = ZoneInfo(name)
    today = moment.astimezone(zone).date()
    probe = first_whole_minute_after(moment)
    while probe.astimezone(zone).date() == today:
        probe += MINUTE
    assert local_day_ends(moment, timezone=name) == probe


@pytest.mark.parametrize("name", ["America/New_York", "Europe/London", "Australia/Lord_Howe"])
def test_every_minute_of_a_year_of_changes_agrees_with_the_wall_clock(name: str) -> None:
    """Around each of the zone's changes in 2026, for a window around the small hours, the
    answer from every minute is the scan's."""
    zone = ZoneInfo(name)
    small_hours = window("01:15", "02:45")
    for change in offset_changes(name, 2026):
        for step in range(-6 * 60, 6 * 60, 7):
            moment = change + timedelta(minutes=step)
            found = next_contact_time(moment, timezone=name, window=small_hours)
            probe = moment
            while not inside(probe, zone, small_hours):
                probe += MINUTE
            assert found == probe, (moment, found, probe)
