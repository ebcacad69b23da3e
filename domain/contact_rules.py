"""When the borrower's contact window is open: the borrower's local wall clock, per weekday and
holidays, exact across daylight-saving changes.

An instant is inside the window when the borrower's wall clock then shows a time within that
day's hours. Around a change of the clocks that is not one interval a day: on a spring-forward
day a window opening inside the skipped hour opens the moment the clocks jump past it; on a
fall-back day the repeated hour is inside (or outside) both times it is shown. So the window is
computed from the zone's actual offsets as intervals of instants, never by adding hours to a
local time (which across a change is an hour early or late, and which Python compares by wall
time when both sides share a zone).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, time, timedelta
from datetime import timezone as fixed_offset
from functools import lru_cache
from zoneinfo import ZoneInfo

from domain.policy import ContactWindow

# A window that is never open must not loop forever; a year of days is plenty.
SEARCH_DAYS = 366
# No zone is further than this from UTC (today's extremes are -12:00 and +14:00; some local
# mean times of the 19th century reach about 15:56): every instant whose local date is a given
# day lies within this of that day's wall-clock midnight read as UTC.
_OFFSET_BOUND = timedelta(hours=26)
# Offsets are sampled this often to find the zone's changes of offset; no zone changes twice
# within an hour.
_SAMPLE_STEP = timedelta(hours=1)

# An interval of instants [start, end), both aware UTC datetimes.
Interval = tuple[datetime, datetime]
# A stretch of instants with one UTC offset: (start, end, offset).
Piece = tuple[datetime, datetime, timedelta]


def next_contact_time(earliest: datetime, *, timezone: str, window: ContactWindow) -> datetime:
    """The first instant at or after `earliest` inside the borrower's contact window.

    Shown in the borrower's local offset (a fixed-offset datetime, so that comparing it with
    any other instant is exact, also inside a repeated hour).
    """
    zone = ZoneInfo(timezone)
    start = earliest.astimezone(UTC)
    if is_inside(start, timezone=timezone, window=window):
        return local_instant(start, zone)
    first_day = start.astimezone(zone).date() - timedelta(days=1)
    best: datetime | None = None
    for offset in range(SEARCH_DAYS + 2):
        day = first_day + timedelta(days=offset)
        if best is not None and best <= _naive_utc(day, 0) - _OFFSET_BOUND:
            # Every later day's instants begin after `best`.
            break
        for opens, closes in window_intervals(timezone, window, day):
            if closes > start:
                candidate = max(opens, start)
                best = candidate if best is None else min(best, candidate)
    if best is None:
        raise ValueError("the contact window does not open within a year: check the policy")
    return local_instant(best, zone)


def spread_opening(
    opening: datetime, *, key: str, timezone: str, window: ContactWindow, margin: timedelta
) -> datetime:
    """The moment, `window.spread_minutes` at most after the window's `opening`, at which the
    contact keyed `key` (a loan id) goes out: the same for a key every day, evenly spread over
    the keys, and never so late that the contact could not start `margin` before that
    opening's close.

    A stable hash (not Python's `hash`, which changes from process to process): a case decides
    the same moment in every worker and every replay."""
    spread_seconds = window.spread_minutes * 60
    if spread_seconds <= 0:
        return opening
    digest = hashlib.sha256(key.encode()).digest()
    offset = timedelta(seconds=int.from_bytes(digest[:8], "big") % spread_seconds)
    latest = window_closes_at(opening, timezone=timezone, window=window) - margin - opening
    return opening + max(timedelta(0), min(offset, latest))


def window_closes_at(moment: datetime, *, timezone: str, window: ContactWindow) -> datetime:
    """The first instant at or after `moment` outside the contact window: when the window
    open at `moment` closes (`moment` itself if it is outside). A contact started inside the
    window must not go out after this, however long its retries take."""
    zone = ZoneInfo(timezone)
    start = moment.astimezone(UTC)
    day = start.astimezone(zone).date()
    intervals = [
        interval
        for offset in (-1, 0, 1, 2)
        for interval in window_intervals(timezone, window, day + timedelta(days=offset))
    ]
    closing = start
    extended = True
    while extended:
        # Intervals that touch (a fall-back hour inside the window) make one open stretch.
        extended = False
        for opens, closes in intervals:
            if opens <= closing < closes:
                closing = closes
                extended = True
    return local_instant(closing, zone)


def is_inside(moment: datetime, *, timezone: str, window: ContactWindow) -> bool:
    """Whether the borrower's wall clock at `moment` shows a time within that day's hours."""
    local = moment.astimezone(ZoneInfo(timezone))
    hours = window.hours_on(local.date())
    if hours is None:
        return False
    start_minute, end_minute = hours
    return start_minute <= local.hour * 60 + local.minute < end_minute


def window_intervals(timezone: str, window: ContactWindow, day: date) -> tuple[Interval, ...]:
    """The instants at which the wall clock shows `day` within its hours, as intervals."""
    hours = window.hours_on(day)
    if hours is None:
        return ()
    return _wall_intervals(timezone, day, hours[0], hours[1])


def local_day_ends(moment: datetime, *, timezone: str) -> datetime:
    """The first instant after `moment` at which the borrower's local date is another one
    (usually the next midnight; on a day whose midnight is skipped, the clocks' jump)."""
    zone = ZoneInfo(timezone)
    start = moment.astimezone(UTC)
    day = start.astimezone(zone).date()
    end = start
    extended = True
    while extended:
        extended = False
        for opens, closes in _wall_intervals(timezone, day, 0, 24 * 60):
            if opens <= end < closes:
                end = closes
                extended = True
    return local_instant(end, zone)


def local_instant(moment: datetime, zone: ZoneInfo) -> datetime:
    """`moment` in the zone's offset at that instant, as a fixed offset: it reads as local
    time, and comparisons with it are exact (an aware datetime in a ZoneInfo inside a repeated
    hour never compares equal to one in another zone)."""
    local = moment.astimezone(zone)
    offset = local.utcoffset()
    assert offset is not None
    return local.replace(tzinfo=fixed_offset(offset))


@lru_cache(maxsize=4096)
def _wall_intervals(
    timezone: str, day: date, start_minute: int, end_minute: int
) -> tuple[Interval, ...]:
    """The instants at which the wall clock in `timezone` shows a time of `day` in
    [start_minute, end_minute), merged into intervals."""
    wall_start = _naive_utc(day, start_minute)
    wall_end = _naive_utc(day, end_minute)
    found: list[Interval] = []
    for piece_start, piece_end, offset in _offset_pieces(timezone, day):
        # In this piece the wall clock reads instant + offset.
        opens = max(piece_start, wall_start - offset)
        closes = min(piece_end, wall_end - offset)
        if opens < closes:
            if found and found[-1][1] == opens:
                found[-1] = (found[-1][0], closes)
            else:
                found.append((opens, closes))
    return tuple(found)


@lru_cache(maxsize=1024)
def _offset_pieces(timezone: str, day: date) -> tuple[Piece, ...]:
    """The zone's offsets over every instant whose local date may be `day`, cut where the
    offset changes (to the second)."""
    zone = ZoneInfo(timezone)
    low = _naive_utc(day, 0) - _OFFSET_BOUND
    high = _naive_utc(day + timedelta(days=1), 0) + _OFFSET_BOUND
    pieces: list[Piece] = []
    piece_start, offset = low, _offset(zone, low)
    probe = low
    while probe < high:
        following = min(probe + _SAMPLE_STEP, high)
        if _offset(zone, following) != offset:
            change = _first_change(zone, probe, following, offset)
            pieces.append((piece_start, change, offset))
            piece_start, offset = change, _offset(zone, change)
        probe = following
    pieces.append((piece_start, high, offset))
    return tuple(pieces)


def _first_change(zone: ZoneInfo, before: datetime, after: datetime, offset: timedelta) -> datetime:
    """The first whole second in (before, after] whose offset is not `offset`: offsets change
    on whole seconds."""
    low, high = int(before.timestamp()), int(after.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if _offset(zone, datetime.fromtimestamp(middle, UTC)) == offset:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


def _offset(zone: ZoneInfo, moment: datetime) -> timedelta:
    offset = moment.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def _naive_utc(day: date, minute: int) -> datetime:
    """The wall-clock time `minute` after midnight of `day`, read as if it were UTC."""
    return datetime.combine(day, time(0), tzinfo=UTC) + timedelta(minutes=minute)
