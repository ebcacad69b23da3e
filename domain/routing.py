"""Which policy collects a case: the routing file's rules and experiments' arms.

Rules are tried in order and the first that matches wins; a case matching none gets
`default`, and a case whose start input names a policy keeps it. A rule may run an
experiment instead of naming one policy: the case's arm then follows from the experiment's
name and the loan id alone, so the same loan lands in the same arm on every worker, after
every restart and in every simulation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from domain.case import DEFAULT_POLICY, POLICY_NAME, CaseInput
from domain.errors import InvalidInput

CHAMPION = "champion"
CHALLENGER = "challenger"
ARMS = (CHAMPION, CHALLENGER)
EXPERIMENT_NAME_MAX = 64
_WHEN_KEYS = ("portfolio", "segment", "min_amount_minor", "max_amount_minor")
_POLICY_RULE_KEYS = {"when", "policy"}
_EXPERIMENT_RULE_KEYS = {"when", "experiment", "champion", "challenger", "challenger_share"}
# 2^64: the first eight bytes of a SHA-256 digest read as a fraction of it.
_FRACTION_SCALE = float(1 << 64)


@dataclass(frozen=True)
class Strategy:
    """What routing chose for one case: its policy and, within an experiment, its arm."""

    policy: str
    experiment: str | None = None
    arm: str | None = None

    def as_json(self) -> dict[str, str | None]:
        return {"policy": self.policy, "experiment": self.experiment, "arm": self.arm}

    @property
    def arm_label(self) -> str | None:
        """`<experiment>:<arm>`, the `CollectionArm` search attribute; None outside one."""
        return f"{self.experiment}:{self.arm}" if self.experiment and self.arm else None


@dataclass(frozen=True)
class When:
    portfolio: str | None = None
    segment: str | None = None
    min_amount_minor: int | None = None
    max_amount_minor: int | None = None

    def matches(self, case: CaseInput) -> bool:
        amount = case.overdue_amount_minor
        return (
            (self.portfolio is None or self.portfolio == case.portfolio)
            and (self.segment is None or self.segment == case.segment)
            and (self.min_amount_minor is None or amount >= self.min_amount_minor)
            and (self.max_amount_minor is None or amount <= self.max_amount_minor)
        )


@dataclass(frozen=True)
class Experiment:
    name: str
    champion: str
    challenger: str
    challenger_share: float

    def strategy_for(self, loan_id: str) -> Strategy:
        arm = arm_of(self.name, loan_id, self.challenger_share)
        policy = self.challenger if arm == CHALLENGER else self.champion
        return Strategy(policy=policy, experiment=self.name, arm=arm)


@dataclass(frozen=True)
class Route:
    when: When
    policy: str | None = None
    experiment: Experiment | None = None

    def strategy_for(self, case: CaseInput) -> Strategy:
        if self.experiment is not None:
            return self.experiment.strategy_for(case.loan_id)
        assert self.policy is not None
        return Strategy(policy=self.policy)

    @property
    def policies(self) -> list[str]:
        if self.experiment is not None:
            return [self.experiment.champion, self.experiment.challenger]
        return [self.policy] if self.policy else []


def arm_of(experiment: str, loan_id: str, challenger_share: float) -> str:
    """The loan's arm: a fixed fraction in [0, 1) from a digest of the experiment's name and
    the loan id (never Python's salted `hash`), below the challenger's share → challenger."""
    digest = hashlib.sha256(f"{experiment}\0{loan_id}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / _FRACTION_SCALE
    return CHALLENGER if fraction < challenger_share else CHAMPION


def route(routes: Sequence[Route], case: CaseInput, *, policy_given: bool) -> Strategy:
    """The case's strategy: its own policy when the start input named one, else the first
    matching rule's, else `default`."""
    if policy_given:
        return Strategy(policy=case.policy)
    for rule in routes:
        if rule.when.matches(case):
            return rule.strategy_for(case)
    return Strategy(policy=DEFAULT_POLICY)


def parse_routing(data: Mapping[str, Any]) -> list[Route]:
    """The routing file's rules (`[[route]]`), each refused naming `route[i].<key>`."""
    unknown = sorted(set(data) - {"route"})
    if unknown:
        raise InvalidInput(unknown[0], "unknown key; the file holds [[route]] tables only")
    raw_routes = data.get("route", [])
    if not isinstance(raw_routes, list):
        raise InvalidInput("route", "must be an array of tables ([[route]])")
    routes = [_parse_route(raw, f"route[{index}]") for index, raw in enumerate(raw_routes)]
    _check_experiments(routes)
    return routes


def _parse_route(raw: Any, where: str) -> Route:
    if not isinstance(raw, Mapping):
        raise InvalidInput(where, "must be a table")
    when = _parse_when(raw.get("when", {}), f"{where}.when")
    keys = set(raw)
    if "experiment" in keys:
        _only(keys, _EXPERIMENT_RULE_KEYS, where)
        return Route(when=when, experiment=_parse_experiment(raw, where))
    if "policy" in keys:
        _only(keys, _POLICY_RULE_KEYS, where)
        return Route(when=when, policy=_policy_name(raw, "policy", where))
    raise InvalidInput(where, "names neither a policy nor an experiment")


def _only(keys: set[str], allowed: set[str], where: str) -> None:
    unknown = sorted(keys - allowed)
    if unknown:
        raise InvalidInput(f"{where}.{unknown[0]}", f"unknown key; allowed: {sorted(allowed)}")


def _parse_when(raw: Any, where: str) -> When:
    if not isinstance(raw, Mapping):
        raise InvalidInput(where, "must be a table")
    _only(set(raw), set(_WHEN_KEYS), where)
    texts = {key: raw.get(key) for key in ("portfolio", "segment")}
    for key, value in texts.items():
        if value is not None and (not isinstance(value, str) or not value):
            raise InvalidInput(f"{where}.{key}", "must be a non-empty string")
    amounts: dict[str, int | None] = {}
    for key in ("min_amount_minor", "max_amount_minor"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise InvalidInput(f"{where}.{key}", "must be an integer (minor units)")
        if value is not None and value < 0:
            raise InvalidInput(f"{where}.{key}", "must not be negative")
        amounts[key] = value
    low, high = amounts["min_amount_minor"], amounts["max_amount_minor"]
    if low is not None and high is not None and low > high:
        raise InvalidInput(f"{where}.min_amount_minor", "must not exceed max_amount_minor")
    return When(texts["portfolio"], texts["segment"], low, high)


def _parse_experiment(raw: Mapping[str, Any], where: str) -> Experiment:
    name = raw.get("experiment")
    if not isinstance(name, str) or not POLICY_NAME.fullmatch(name):
        raise InvalidInput(
            f"{where}.experiment", "must be a name such as 'firm-early' (a-z, 0-9, - and _)"
        )
    share = raw.get("challenger_share")
    if not isinstance(share, int | float) or isinstance(share, bool) or not 0 < share < 1:
        raise InvalidInput(f"{where}.challenger_share", "must be a number between 0 and 1")
    champion = _policy_name(raw, "champion", where)
    challenger = _policy_name(raw, "challenger", where)
    if champion == challenger:
        raise InvalidInput(f"{where}.challenger", "must differ from the champion")
    return Experiment(name, champion, challenger, float(share))


def _policy_name(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not POLICY_NAME.fullmatch(value):
        raise InvalidInput(f"{where}.{key}", "must be a policy name such as 'default'")
    return value


def _check_experiments(routes: list[Route]) -> None:
    """An experiment named twice must be the same experiment, or its arms mean nothing."""
    seen: dict[str, Experiment] = {}
    for index, rule in enumerate(routes):
        experiment = rule.experiment
        if experiment is None:
            continue
        earlier = seen.setdefault(experiment.name, experiment)
        if earlier != experiment:
            raise InvalidInput(
                f"route[{index}].experiment",
                f"{experiment.name!r} is defined differently by an earlier rule",
            )
