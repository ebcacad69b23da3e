"""A call back the borrower asks for: the request, when it may be (one pure function), and the
range a form offers for it.

A borrower (on their own page, or anyone on their behalf) asks to be called at a moment `at`.
The case takes it if `at` lies ahead, no further ahead than a promise may fall due (the
policy's `promise_max_days`: a call back is an appointment, held to the reach of the borrower's
own commitments: until the end of that day in the case's calendar), and at a moment the case
itself could call: inside the borrower's contact
window with time left to talk, and under every cap, by `domain.caps.check_contact`, the rule
every contact of the case obeys. The case then queues a call task due at that moment, as it
queues a ladder step's call (`domain.step_plan.plan_callback`); unlike one, it is never
re-queued: a call back is for the moment asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from domain import fields
from domain.caps import (
    CONTACT_WINDOW,
    Deferred,
    EarlierContact,
    check_contact,
    clock_time,
    window_figure,
)
from domain.case_details import human_time
from domain.clock import CaseClock
from domain.errors import InvalidInput
from domain.policy import Policy
from domain.timing import SEND_MARGIN

CALL = "call"
# The agent's script for a call back (templates/*/callback.toml).
CALLBACK_TEMPLATE = "callback"


@dataclass(frozen=True)
class CallbackRequest:
    request_id: str
    # In UTC: the same moment written with another offset is the same request.
    at: datetime
    # Who asked (`self_service` from the borrower's page).
    source: str | None = None


def parse_callback(raw: Any) -> CallbackRequest:
    data = fields.as_object(raw, "callback")
    return CallbackRequest(
        request_id=fields.message_id(data, "request_id"),
        at=fields.aware_datetime(data, "at"),
        source=fields.source(data),
    )


def callback_horizon(policy: Policy, clock: CaseClock, now: datetime) -> datetime:
    """When the last day a call back may be on ends: the day a promise made now may fall due
    at the latest, in the case's calendar (a `demo` day is seconds long)."""
    return clock.start_of(clock.days_past_due(now) + policy.commitments.promise_max_days + 1)


def check_callback_time(
    at: datetime,
    *,
    now: datetime,
    policy: Policy,
    timezone: str,
    clock: CaseClock,
    contacts: Sequence[EarlierContact],
) -> None:
    """Refuse, naming `at`, a moment at which the case could not call the borrower: not ahead,
    beyond the horizon, outside the contact window (or too late in it to start a call), or held
    back by a cap counted over `contacts` (as `domain.contact_counting` counts the case's)."""
    asked = human_time(at, timezone)
    if at <= now:
        raise InvalidInput("at", f"{asked} is not ahead (now is {human_time(now, timezone)})")
    horizon = callback_horizon(policy, clock, now)
    if at >= horizon:
        days = policy.commitments.promise_max_days
        last = human_time(horizon - timedelta(minutes=1), timezone)
        raise InvalidInput("at", f"{asked} is more than {days} days ahead (the latest is {last})")
    verdict = check_contact(
        CALL, at, policy=policy, timezone=timezone, contacts=contacts, margin=SEND_MARGIN
    )
    if not isinstance(verdict, Deferred):
        return
    allowed = human_time(verdict.until, timezone)
    if verdict.rule == CONTACT_WINDOW and policy.contact_window is not None:
        window = window_figure(policy.contact_window)
        raise InvalidInput(
            "at", f"{asked} is outside the contact window ({window}); the next allowed is {allowed}"
        )
    raise InvalidInput(
        "at", f"no call may be made at {asked} ({verdict.rule}); the next allowed is {allowed}"
    )


@dataclass(frozen=True)
class CallbackLimits:
    """What a form for a call back offers: dates on the borrower's calendar, and the contact
    window's hours on their clock (None: any hour)."""

    earliest: date
    latest: date
    timezone: str
    hours: tuple[int, int] | None

    @property
    def opens(self) -> str:
        return clock_time(self.hours[0]) if self.hours else "00:00"

    @property
    def last_minute(self) -> str:
        """The last minute of the day's window, as a time picker's `max`."""
        return clock_time(self.hours[1] - 1) if self.hours else "23:59"

    @property
    def closes(self) -> str:
        return clock_time(self.hours[1]) if self.hours else "24:00"


def callback_limits(
    policy: Policy, *, clock: CaseClock, now: datetime, timezone: str
) -> CallbackLimits:
    """The dates from today to the horizon and the window's everyday hours (a weekday with
    hours of its own, or a holiday, is refused by the case with the next allowed time)."""
    zone = ZoneInfo(timezone)
    window = policy.contact_window
    last_moment = callback_horizon(policy, clock, now) - timedelta(seconds=1)
    return CallbackLimits(
        earliest=now.astimezone(zone).date(),
        latest=max(now, last_moment).astimezone(zone).date(),
        timezone=timezone,
        hours=(window.start_minute, window.end_minute) if window is not None else None,
    )
