"""Escalation policies: parsed and validated from plain data (the TOML files in `policies/`).

A case keeps the policy it was prepared with (the preparation activity returns it
into the workflow's history), so editing a policy file never changes a running case.
"""

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise
from typing import Any

from domain import fields
from domain.channels import CHANNELS, CONTACT_CHANNELS
from domain.commitments import MAX_INSTALLMENTS_EVER, CommitmentRules
from domain.debt import AccrualRules, parse_accrual_rules
from domain.errors import InvalidInput
from domain.portal import DEFAULT_LINK_DAYS, parse_link_days

STAGES = ("reminder", "phone", "field_visit", "legal")
CLOCK_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Every key a policy file may hold (after `extends` is resolved): anything else is a typo that
# would otherwise be ignored silently, and a cap that is silently ignored is no cap.
POLICY_KEYS = frozenset(
    {
        "name",
        "description",
        "day_seconds",
        "grace_days",
        "write_off_dpd",
        "default_timezone",
        "linger_days",
        "recovery_days",
        "contact_window",
        "daily_caps",
        "rolling_caps_7d",
        "call_quiet_days_after_conversation",
        "connected_calls_per_day",
        "unanswered_calls_per_number_per_day",
        "opt_out_notice",
        "portal",
        "commitments",
        "accrual",
        "ladder",
    }
)
STEP_KEYS = frozenset({"dpd", "stage", "channel", "template", "repeat_every_days", "until_dpd"})
WINDOW_KEYS = frozenset({"start", "end", "weekdays", "holidays", "spread_minutes"})


@dataclass(frozen=True)
class LadderStep:
    dpd: int
    stage: str
    channel: str
    template: str


@dataclass(frozen=True)
class DayHours:
    """One weekday's own contact hours, in place of the window's start and end that day;
    `end_minute` not after `start_minute` means no contact at all that weekday."""

    weekday: int  # 0 = Monday ... 6 = Sunday, as `date.weekday()`
    start_minute: int = 0
    end_minute: int = 0


@dataclass(frozen=True)
class ContactWindow:
    """Local hours when the borrower may be contacted: [start, end) in minutes after midnight
    of the borrower's wall clock, unless a weekday has its own hours or the day is a holiday.

    The fields after `end_minute` have defaults: a policy recorded in an older case's history
    (before weekdays and holidays existed) still decodes, to the same every-day window.
    """

    start_minute: int
    end_minute: int
    weekdays: tuple[DayHours, ...] = ()
    # Dates (ISO, the borrower's calendar) on which nobody is contacted.
    holidays: tuple[str, ...] = ()
    # A contact that waited for the window goes out this many minutes after it opens at most,
    # at a moment of its own (by its loan id), not at the opening itself with every other
    # case due that day (docs/capacity.md: the morning). 0: at the opening.
    spread_minutes: int = 0

    def hours_on(self, day: date) -> tuple[int, int] | None:
        """The [start, end) minutes of `day` in which contact is allowed; None: none that day."""
        if self.holidays and day.isoformat() in self.holidays:
            return None
        for hours in self.weekdays:
            if hours.weekday == day.weekday():
                if hours.end_minute <= hours.start_minute:
                    return None
                return hours.start_minute, hours.end_minute
        return self.start_minute, self.end_minute


@dataclass(frozen=True)
class Policy:
    name: str
    day_seconds: int
    grace_days: int
    write_off_dpd: int
    default_timezone: str
    ladder: list[LadderStep]
    contact_window: ContactWindow | None = None
    daily_caps: dict[str, int] = field(default_factory=dict)
    description: str = ""
    # How long a closed case stays reachable, quiet, for retried and late payments: days
    # after `paid`, `settled` or `plan_completed`, and days of recovery after `written_off`.
    linger_days: int = 30
    recovery_days: int = 365
    commitments: CommitmentRules = field(default_factory=CommitmentRules)
    # Contact caps beyond the daily ones (domain/caps.py applies them). Every one has a
    # default meaning "no such cap", so policies recorded in older histories decode unchanged.
    # At most this many contacts per channel in any 7 consecutive local days.
    rolling_caps_7d: dict[str, int] = field(default_factory=dict)
    # No call for this many local days counted from the day of a telephone conversation.
    call_quiet_days_after_conversation: int = 0
    connected_calls_per_day: int | None = None
    unanswered_calls_per_number_per_day: int | None = None
    # Every SMS and email carries a notice of how to opt out (the template renderer reads it).
    opt_out_notice: bool = True
    # How long the borrower's signed link in a notice stays valid (`[portal] link_days`).
    portal_link_days: int = DEFAULT_LINK_DAYS
    # Penalty, its cap, and the order in which payments pay the parts off.
    accrual: AccrualRules = field(default_factory=AccrualRules)

    @property
    def legal_dpd(self) -> int | None:
        return next((step.dpd for step in self.ladder if step.channel == "legal"), None)


def _int(data: Mapping[str, Any], key: str, path: str, *, minimum: int) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{path}{key}", "must be an integer")
    if value < minimum:
        raise InvalidInput(f"{path}{key}", f"must be at least {minimum}")
    return value


def _minutes(value: Any, path: str) -> int:
    if not isinstance(value, str) or not CLOCK_TIME.fullmatch(value):
        raise InvalidInput(path, "must be a local time HH:MM")
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def _no_unknown_keys(data: Mapping[str, Any], known: Collection[str], path: str) -> None:
    for key in data:
        if key not in known:
            raise InvalidInput(f"{path}{key}", "is not a known key")


def _ladder(raw: Any) -> list[LadderStep]:
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("ladder", "must be a non-empty list of steps")
    steps: list[LadderStep] = []
    for position, entry in enumerate(raw):
        path = f"ladder[{position}]."
        data = fields.as_object(entry, f"ladder[{position}]")
        _no_unknown_keys(data, STEP_KEYS, path)
        first = _int(data, "dpd", path, minimum=0)
        stage = data.get("stage")
        if stage not in STAGES:
            raise InvalidInput(f"{path}stage", f"must be one of {', '.join(STAGES)}")
        channel = data.get("channel")
        if channel not in CHANNELS:
            raise InvalidInput(f"{path}channel", f"must be one of {', '.join(CHANNELS)}")
        template = fields.required_str(data, "template", prefix=path)
        last = first
        if "repeat_every_days" in data:
            every = _int(data, "repeat_every_days", path, minimum=1)
            last = _int(data, "until_dpd", path, minimum=first)
        elif "until_dpd" in data:
            raise InvalidInput(f"{path}until_dpd", "needs repeat_every_days")
        else:
            every = 1
        steps.extend(
            LadderStep(dpd=dpd, stage=stage, channel=channel, template=template)
            for dpd in range(first, last + 1, every)
        )
    for earlier, later in pairwise(steps):
        if later.dpd <= earlier.dpd:
            raise InvalidInput(
                "ladder", f"steps must have increasing dpd (step at dpd {later.dpd})"
            )
        if STAGES.index(later.stage) < STAGES.index(earlier.stage):
            raise InvalidInput("ladder", f"stage {later.stage!r} at dpd {later.dpd} goes backwards")
    legal = [step for step in steps if step.channel == "legal"]
    if len(legal) > 1 or (legal and legal[0] is not steps[-1]):
        raise InvalidInput("ladder", "a single legal hand-off may only be the last step")
    return steps


def _commitments(raw: Any) -> CommitmentRules:
    """The `[commitments]` table: every key optional, the defaults are `default`'s figures."""
    data = fields.as_object(raw, "commitments")
    defaults = CommitmentRules()
    known = set(CommitmentRules.__dataclass_fields__)
    for key in data:
        if key not in known:
            raise InvalidInput(f"commitments.{key}", "is not a commitment rule")
    values = {
        key: _int(data, key, "commitments.", minimum=0 if key.endswith("grace_days") else 1)
        if key in data
        else getattr(defaults, key)
        for key in known
    }
    rules = CommitmentRules(**values)
    if rules.plan_max_installments > MAX_INSTALLMENTS_EVER:
        raise InvalidInput(
            "commitments.plan_max_installments", f"must be at most {MAX_INSTALLMENTS_EVER}"
        )
    return rules


def _hours(value: Any, path: str) -> tuple[int, int]:
    """`"HH:MM-HH:MM"` as [start, end) minutes; `"none"` as (0, 0): no contact that day."""
    if value == "none":
        return 0, 0
    if not isinstance(value, str) or value.count("-") != 1:
        raise InvalidInput(path, 'must be "HH:MM-HH:MM" or "none"')
    start_text, end_text = value.split("-")
    start, end = _minutes(start_text, path), _minutes(end_text, path)
    if end <= start:
        raise InvalidInput(path, "the end must be after the start")
    return start, end


def _holiday(value: Any, path: str) -> str:
    if isinstance(value, date):  # a TOML date literal
        return value.isoformat()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise InvalidInput(path, "must be a date YYYY-MM-DD")


def _window(raw: Any) -> ContactWindow:
    data = fields.as_object(raw, "contact_window")
    _no_unknown_keys(data, WINDOW_KEYS, "contact_window.")
    start = _minutes(data.get("start"), "contact_window.start")
    end = _minutes(data.get("end"), "contact_window.end")
    if end <= start:
        raise InvalidInput("contact_window.end", "must be after contact_window.start")
    weekdays = []
    raw_days = fields.as_object(data.get("weekdays", {}), "contact_window.weekdays")
    for key, value in raw_days.items():
        if key not in WEEKDAYS:
            raise InvalidInput(
                f"contact_window.weekdays.{key}", f"is not a weekday ({', '.join(WEEKDAYS)})"
            )
        day_start, day_end = _hours(value, f"contact_window.weekdays.{key}")
        weekdays.append(DayHours(WEEKDAYS.index(key), day_start, day_end))
    if sum(1 for day in weekdays if day.end_minute <= day.start_minute) == len(WEEKDAYS):
        raise InvalidInput("contact_window.weekdays", "closes every day of the week")
    raw_holidays = data.get("holidays", [])
    if not isinstance(raw_holidays, list):
        raise InvalidInput("contact_window.holidays", "must be a list of dates")
    holidays = sorted(
        {_holiday(day, f"contact_window.holidays[{n}]") for n, day in enumerate(raw_holidays)}
    )
    spread = (
        _int(data, "spread_minutes", "contact_window.", minimum=0)
        if "spread_minutes" in data
        else 0
    )
    if spread >= end - start:
        raise InvalidInput(
            "contact_window.spread_minutes", "must be shorter than the window (start to end)"
        )
    return ContactWindow(
        start_minute=start,
        end_minute=end,
        weekdays=tuple(sorted(weekdays, key=lambda day: day.weekday)),
        holidays=tuple(holidays),
        spread_minutes=spread,
    )


def _channel_caps(data: Mapping[str, Any], table: str) -> dict[str, int]:
    raw = fields.as_object(data.get(table, {}), table)
    caps = {}
    for channel in raw:
        if channel not in CONTACT_CHANNELS:
            raise InvalidInput(
                f"{table}.{channel}", f"is not a contact channel ({', '.join(CONTACT_CHANNELS)})"
            )
        caps[channel] = _int(raw, channel, f"{table}.", minimum=1)
    return caps


def _optional_cap(data: Mapping[str, Any], key: str) -> int | None:
    return _int(data, key, "", minimum=1) if key in data else None


def parse_policy(data: Mapping[str, Any]) -> Policy:
    """Validate a policy's data (`policies.load_policy` also checks that every step's template
    has a text for its channel)."""
    _no_unknown_keys(data, POLICY_KEYS, "")
    name = fields.required_str(data, "name")
    ladder = _ladder(data.get("ladder"))
    grace_days = _int(data, "grace_days", "", minimum=0)
    if ladder[0].dpd <= grace_days:
        raise InvalidInput("ladder", "the first step must come after the grace days")
    write_off_dpd = _int(data, "write_off_dpd", "", minimum=1)
    if write_off_dpd <= ladder[-1].dpd:
        raise InvalidInput("write_off_dpd", "must come after the last ladder step")
    default_timezone = fields.timezone_name(
        fields.required_str(data, "default_timezone"), "default_timezone"
    )
    window = _window(data["contact_window"]) if "contact_window" in data else None
    description = data.get("description", "")
    if not isinstance(description, str):
        raise InvalidInput("description", "must be a string")
    opt_out_notice = data.get("opt_out_notice", True)
    if not isinstance(opt_out_notice, bool):
        raise InvalidInput("opt_out_notice", "must be true or false")
    return Policy(
        name=name,
        day_seconds=_int(data, "day_seconds", "", minimum=1),
        grace_days=grace_days,
        write_off_dpd=write_off_dpd,
        default_timezone=default_timezone,
        ladder=ladder,
        contact_window=window,
        daily_caps=_channel_caps(data, "daily_caps"),
        description=description,
        linger_days=_int(data, "linger_days", "", minimum=0) if "linger_days" in data else 30,
        recovery_days=(
            _int(data, "recovery_days", "", minimum=0) if "recovery_days" in data else 365
        ),
        commitments=_commitments(data.get("commitments", {})),
        rolling_caps_7d=_channel_caps(data, "rolling_caps_7d"),
        call_quiet_days_after_conversation=(
            _int(data, "call_quiet_days_after_conversation", "", minimum=0)
            if "call_quiet_days_after_conversation" in data
            else 0
        ),
        connected_calls_per_day=_optional_cap(data, "connected_calls_per_day"),
        unanswered_calls_per_number_per_day=_optional_cap(
            data, "unanswered_calls_per_number_per_day"
        ),
        opt_out_notice=opt_out_notice,
        portal_link_days=parse_link_days(data.get("portal")),
        accrual=parse_accrual_rules(data.get("accrual", {})),
    )
