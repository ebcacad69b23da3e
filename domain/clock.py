"""Days past due (DPD), buckets and the case clock.

A policy's "day" is 86400 s in production and a few seconds under the `demo`
policy. The clock maps DPD to instants and back with one anchor: the start
(local midnight) of the due date for real days, or — for a fast clock — the
instant that makes the DPD at opening equal the calendar DPD.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SECONDS_PER_DAY = 86400


@dataclass(frozen=True)
class CaseClock:
    anchor: datetime
    day_seconds: int
    # Real days are counted as the borrower's calendar counts them (local dates), so that the
    # DPD changes at the very local midnight `start_of` names, also after a change of the
    # clocks. Cases begun before counted elapsed days since the anchor (`calendar=False`):
    # after a change of the clocks that was an hour off, and a case woken at a local midnight
    # to act on the new day (write-off, a bucket boundary) found itself a day short and waited
    # for that same moment again, a millisecond at a time, for the whole hour.
    calendar: bool = True

    def days_past_due(self, now: datetime) -> int:
        if self.calendar and self.day_seconds == SECONDS_PER_DAY:
            local_today = now.astimezone(self.anchor.tzinfo).date()
            return max(0, (local_today - self.anchor.date()).days)
        elapsed = (now - self.anchor).total_seconds()
        return max(0, int(elapsed // self.day_seconds))

    def start_of(self, days_past_due: int) -> datetime:
        return self.anchor + timedelta(seconds=days_past_due * self.day_seconds)


def calendar_days_past_due(due_date: date, now: datetime, timezone: str) -> int:
    """DPD as the borrower's calendar counts it: local today minus the due date."""
    return max(0, (now.astimezone(ZoneInfo(timezone)).date() - due_date).days)


def case_clock(
    due_date: date, timezone: str, opened_at: datetime, day_seconds: int, *, calendar: bool = True
) -> CaseClock:
    """The case's clock; `calendar`: see `CaseClock.calendar`."""
    if day_seconds == SECONDS_PER_DAY:
        anchor = datetime.combine(due_date, time(0), tzinfo=ZoneInfo(timezone))
        return CaseClock(anchor=anchor, day_seconds=day_seconds, calendar=calendar)
    dpd_at_open = calendar_days_past_due(due_date, opened_at, timezone)
    anchor = opened_at - timedelta(seconds=dpd_at_open * day_seconds)
    return CaseClock(anchor=anchor, day_seconds=day_seconds)


# The delinquency buckets, each with its first day past due; the one definition of them.
BUCKET_STARTS: tuple[tuple[str, int], ...] = (
    ("M0", 0),
    ("M1", 1),
    ("M2", 31),
    ("M3", 61),
    ("M4+", 91),
)
BUCKETS = tuple(name for name, _ in BUCKET_STARTS)


def bucket(days_past_due: int) -> str:
    """Delinquency bucket: M0 = 0, M1 = 1-30, M2 = 31-60, M3 = 61-90, M4+ > 90."""
    name = BUCKETS[0]
    for candidate, first_day in BUCKET_STARTS:
        if days_past_due >= first_day:
            name = candidate
    return name
