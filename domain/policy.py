"""Escalation policies: parsed and validated from plain data (the TOML files in `policies/`).

A case keeps the policy it was prepared with (the preparation activity returns it
into the workflow's history), so editing a policy file never changes a running case.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from domain import fields
from domain.commitments import MAX_INSTALLMENTS_EVER, CommitmentRules
from domain.errors import InvalidInput

STAGES = ("reminder", "phone", "field_visit", "legal")
CHANNELS = ("sms", "email", "letter", "call", "field_visit", "legal")
CONTACT_CHANNELS = ("sms", "email", "letter", "call", "field_visit")
CLOCK_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")


@dataclass(frozen=True)
class LadderStep:
    dpd: int
    stage: str
    channel: str
    template: str


@dataclass(frozen=True)
class ContactWindow:
    """Local hours when the borrower may be contacted: [start, end) in minutes after midnight."""

    start_minute: int
    end_minute: int


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


def _ladder(raw: Any) -> list[LadderStep]:
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("ladder", "must be a non-empty list of steps")
    steps: list[LadderStep] = []
    for position, entry in enumerate(raw):
        path = f"ladder[{position}]."
        data = fields.as_object(entry, f"ladder[{position}]")
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


def parse_policy(data: Mapping[str, Any]) -> Policy:
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
    window = None
    if "contact_window" in data:
        raw_window = fields.as_object(data["contact_window"], "contact_window")
        window = ContactWindow(
            start_minute=_minutes(raw_window.get("start"), "contact_window.start"),
            end_minute=_minutes(raw_window.get("end"), "contact_window.end"),
        )
        if window.end_minute <= window.start_minute:
            raise InvalidInput("contact_window.end", "must be after contact_window.start")
    caps_raw = fields.as_object(data.get("daily_caps", {}), "daily_caps")
    daily_caps = {}
    for channel in caps_raw:
        if channel not in CONTACT_CHANNELS:
            raise InvalidInput(f"daily_caps.{channel}", "is not a contact channel")
        daily_caps[channel] = _int(caps_raw, channel, "daily_caps.", minimum=1)
    description = data.get("description", "")
    if not isinstance(description, str):
        raise InvalidInput("description", "must be a string")
    return Policy(
        name=name,
        day_seconds=_int(data, "day_seconds", "", minimum=1),
        grace_days=grace_days,
        write_off_dpd=write_off_dpd,
        default_timezone=default_timezone,
        ladder=ladder,
        contact_window=window,
        daily_caps=daily_caps,
        description=description,
        linger_days=_int(data, "linger_days", "", minimum=0) if "linger_days" in data else 30,
        recovery_days=(
            _int(data, "recovery_days", "", minimum=0) if "recovery_days" in data else 365
        ),
        commitments=_commitments(data.get("commitments", {})),
    )
