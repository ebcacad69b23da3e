"""Contact windows and the moments around them, for the rules' tests and their property
tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from hypothesis import strategies as st

from domain.policy import ContactWindow, DayHours


@st.composite
def moments(draw: st.DrawFn) -> tuple[str, datetime]:
    """A zone and an instant, usually within a day and a half of one of its clock changes."""
    name = draw(st.sampled_from(ZONES))
    # From 1975 on, every zone's offsets are whole minutes (the scan steps by minutes).
    year = draw(st.integers(1975, 2037))
    changes = offset_changes(name, year)
    if changes and draw(st.integers(0, 4)) > 0:
        base = draw(st.sampled_from(changes))
        moment = base + timedelta(seconds=draw(st.integers(-36 * 3600, 36 * 3600)))
    else:
        moment = utc(year, 1, 1) + timedelta(seconds=draw(st.integers(0, 364 * 86400)))
    return name, moment


@st.composite
def windows(draw: st.DrawFn) -> ContactWindow:
    """Windows of every shape, often around the small hours when the clocks change."""
    minute = st.one_of(st.integers(0, 1438), st.integers(0, 5 * 60).map(lambda m: m - m % 15))
    start = draw(minute)
    end = draw(st.integers(start + 1, 1439))
    own_days = sorted(draw(st.sets(st.integers(0, 6), max_size=4)))
    return ContactWindow(start, end, weekdays=tuple(draw(day_hours(day)) for day in own_days))


def inside(moment: datetime, zone: ZoneInfo, window: ContactWindow) -> bool:
    """The definition, read off the wall clock."""
    local = moment.astimezone(zone)
    hours = window.hours_on(local.date())
    return hours is not None and hours[0] <= local.hour * 60 + local.minute < hours[1]


def first_whole_minute_after(moment: datetime) -> datetime:
    floor = moment.replace(second=0, microsecond=0)
    return floor + MINUTE


ZONES = sorted(available_timezones())


MINUTE = timedelta(minutes=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# -- properties against a minute-by-minute scan --------------------------------
@cache
def offset_changes(name: str, year: int) -> tuple[datetime, ...]:
    """The instants in `year` at which the zone's offset changes (no zone changes twice a day)."""
    zone = ZoneInfo(name)
    changes = []
    moment = utc(year, 1, 1)
    offset = moment.astimezone(zone).utcoffset()
    while moment.year == year:
        following = moment + timedelta(days=1)
        if following.astimezone(zone).utcoffset() != offset:
            low, high = moment, following
            while high - low > MINUTE:
                middle = low + (high - low) / 2
                if middle.astimezone(zone).utcoffset() == offset:
                    low = middle
                else:
                    high = middle
            changes.append(high.replace(second=0, microsecond=0))
            offset = following.astimezone(zone).utcoffset()
        moment = following
    return tuple(changes)


def day_hours(day: int) -> st.SearchStrategy[DayHours]:
    """A weekday's own hours, or none that day."""
    hours = st.tuples(st.integers(0, 1438), st.integers(1, 1439)).filter(lambda p: p[0] < p[1])
    return st.one_of(st.just(DayHours(day)), hours.map(lambda p: DayHours(day, *p)))
