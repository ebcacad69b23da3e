"""Simulated borrowers: how the borrowers of each segment answer each kind of contact.

A behaviour file (TOML; `data/behaviours.toml` is shipped) has one table per segment, and a
`default` one for loans whose segment it does not name. In it, one table per contact channel
gives the chance of each answer to one contact on that channel (what is left up to 1 is no
answer) and how long after the contact the answer comes; the segment's own keys say what the
answers commit to (how much a part payment is, how far ahead a promise falls due, how many
installments a plan has). Every key is checked: a wrong one is refused, named.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from domain.channels import CONTACT_CHANNELS
from domain.errors import InvalidInput

DEFAULT_SEGMENT = "default"

# Every answer a borrower may give to a contact, in the order a draw is laid over them.
ANSWERS = (
    "pay_full",  # pays everything owed
    "pay_part",  # pays part_percent of it
    "promise_keep",  # promises everything owed within promise_days, and pays it on the day
    "promise_break",  # promises it, and pays nothing
    "plan_keep",  # agrees a plan of plan_installments, and pays every one on its day
    "plan_miss",  # agrees it, pays plan_installments_paid of them, and misses the next
    "settle",  # an operator agrees a settlement of settle_percent, paid on its day
    "dispute",  # disputes the debt: a hold stops collection
    "stop_answering",  # answers nothing any more, on any channel
)
# How long after the contact the answer comes, in hours of the case's days (a policy whose day
# is 2 s answers within seconds).
DELAY = "delay_hours"
# Answers come within a year, or not at all.
DELAY_HOURS_MAX = 366 * 24
CHANNEL_KEYS = frozenset({DELAY, *ANSWERS})


@dataclass(frozen=True)
class ChannelAnswers:
    """How a borrower answers one contact on a channel."""

    delay_hours: float
    # (answer, chance) in the order of ANSWERS, answers of no chance left out.
    chances: tuple[tuple[str, float], ...]

    def pick(self, draw: float) -> str | None:
        """The answer a uniform draw in [0, 1) falls on; None: no answer."""
        edge = 0.0
        for answer, chance in self.chances:
            edge += chance
            if draw < edge:
                return answer
        return None

    def delay(self, day_seconds: int) -> timedelta:
        return timedelta(seconds=self.delay_hours * day_seconds / 24)


@dataclass(frozen=True)
class Behaviour:
    """The borrowers of one segment."""

    segment: str
    channels: Mapping[str, ChannelAnswers]
    part_percent: int = 30
    promise_days: int = 7
    plan_installments: int = 3
    plan_every_days: int = 14
    plan_installments_paid: int = 1
    settle_percent: int = 70
    settle_days: int = 5


# The segment's own keys (whole numbers) with the least each may be, and the greatest.
SEGMENT_NUMBERS: dict[str, tuple[int, int]] = {
    "part_percent": (1, 99),
    "promise_days": (1, 366),
    "plan_installments": (1, 60),
    "plan_every_days": (1, 366),
    "plan_installments_paid": (0, 59),
    "settle_percent": (1, 99),
    "settle_days": (1, 366),
}
SEGMENT_KEYS = frozenset({*SEGMENT_NUMBERS, *CONTACT_CHANNELS})


@dataclass(frozen=True)
class Behaviours:
    segments: Mapping[str, Behaviour]

    def of(self, segment: str | None) -> Behaviour:
        """The behaviour of `segment`; the `default` one for a segment the file does not name."""
        return self.segments.get(segment or DEFAULT_SEGMENT) or self.segments[DEFAULT_SEGMENT]


def parse_behaviours(data: Mapping[str, Any]) -> Behaviours:
    """Validate a behaviour file's data; `InvalidInput` names the key at fault
    (`segment.channel.key`)."""
    if DEFAULT_SEGMENT not in data:
        raise InvalidInput(DEFAULT_SEGMENT, "is required: the behaviour of loans of no segment")
    return Behaviours({name: _segment(name, raw) for name, raw in data.items()})


def _segment(name: str, raw: Any) -> Behaviour:
    if not isinstance(raw, Mapping):
        raise InvalidInput(name, "must be a table of a segment's behaviour")
    for key in raw:
        if key not in SEGMENT_KEYS:
            raise InvalidInput(f"{name}.{key}", "is not a known key")
    numbers = {
        key: _whole(raw[key], f"{name}.{key}", *bounds)
        for key, bounds in SEGMENT_NUMBERS.items()
        if key in raw
    }
    behaviour = Behaviour(
        segment=name,
        channels={
            channel: _channel(f"{name}.{channel}", raw[channel])
            for channel in CONTACT_CHANNELS
            if channel in raw
        },
        **numbers,
    )
    if behaviour.plan_installments_paid >= behaviour.plan_installments:
        raise InvalidInput(
            f"{name}.plan_installments_paid",
            f"must be below plan_installments ({behaviour.plan_installments})",
        )
    return behaviour


def _channel(path: str, raw: Any) -> ChannelAnswers:
    if not isinstance(raw, Mapping):
        raise InvalidInput(path, "must be a table of answers and their chances")
    for key in raw:
        if key not in CHANNEL_KEYS:
            raise InvalidInput(f"{path}.{key}", f"is not one of {', '.join(sorted(CHANNEL_KEYS))}")
    if DELAY not in raw:
        raise InvalidInput(f"{path}.{DELAY}", "is required: how long after the contact it comes")
    delay = _number(raw[DELAY], f"{path}.{DELAY}")
    if not 0 < delay <= DELAY_HOURS_MAX:
        raise InvalidInput(f"{path}.{DELAY}", f"must be more than 0 and at most {DELAY_HOURS_MAX}")
    chances = []
    for answer in ANSWERS:
        if answer in raw:
            chance = _number(raw[answer], f"{path}.{answer}")
            if not 0 <= chance <= 1:
                raise InvalidInput(
                    f"{path}.{answer}", f"must be a chance from 0 to 1, not {chance}"
                )
            if chance > 0:
                chances.append((answer, chance))
    total = sum(chance for _, chance in chances)
    if total > 1 + 1e-9:
        raise InvalidInput(path, f"its chances add up to {total:g}, more than 1")
    return ChannelAnswers(delay_hours=delay, chances=tuple(chances))


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(path, "must be a number")
    return float(value)


def _whole(value: Any, path: str, least: int, most: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(path, "must be a whole number")
    if not least <= value <= most:
        raise InvalidInput(path, f"must be from {least} to {most}")
    return value
