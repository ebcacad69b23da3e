"""When the borrower may be contacted: local contact window and per-channel daily caps."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.policy import ContactWindow

# A cap or window that can never be met must not loop forever; a year of days is plenty.
SEARCH_DAYS = 366


def next_contact_time(
    earliest: datetime,
    *,
    timezone: str,
    window: ContactWindow | None,
    daily_cap: int | None,
    earlier_contacts: Sequence[datetime],
) -> datetime:
    """The first instant at or after `earliest` when one more contact on a channel is allowed.

    `earlier_contacts` are the instants of this channel's previous contacts; the cap
    counts them per local calendar day of the borrower.
    """
    zone = ZoneInfo(timezone)
    candidate = earliest
    for _ in range(SEARCH_DAYS):
        local = candidate.astimezone(zone)
        next_midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone)
        if daily_cap is not None:
            used = sum(1 for at in earlier_contacts if at.astimezone(zone).date() == local.date())
            if used >= daily_cap:
                candidate = next_midnight
                continue
        if window is None:
            return candidate
        minute_of_day = local.hour * 60 + local.minute
        if minute_of_day < window.start_minute:
            opening = time(window.start_minute // 60, window.start_minute % 60)
            return datetime.combine(local.date(), opening, tzinfo=zone)
        if minute_of_day >= window.end_minute:
            candidate = next_midnight
            continue
        return candidate
    raise ValueError("no contact time within a year: check the policy's window and caps")


def window_closes_at(moment: datetime, *, timezone: str, window: ContactWindow) -> datetime:
    """When the contact window open at `moment` closes, in the borrower's local time: a contact
    started inside the window must not leave after this, however long its retries take."""
    local = moment.astimezone(ZoneInfo(timezone))
    closing = time(window.end_minute // 60, window.end_minute % 60)
    return datetime.combine(local.date(), closing, tzinfo=ZoneInfo(timezone))
