"""The figures of one arm of a strategy (the cases worked under one policy), and the comparison
of two arms: what the live experiment report and the simulator both show.

Each case is reduced to a `CaseOutcome`; `arm_figures` sums an arm's outcomes, `compare` tells
whether the challenger's recovery rate differs from the champion's by more than chance.

Money is never added across currencies. The recovery rate (collected / owed at opening) and the
cost per unit collected (contact costs / collected) are amount-weighted within each currency:
ratio estimators with delta-method intervals (`domain.estimates`). Over several currencies an
arm's figure is the stratified estimate: each currency's rate weighted by its share of the
arm's cases, its variance the sum of the squared weights times each currency's variance. With
one currency that is just that currency's rate.

`compare` is a two-sided z-test (Wald test) of the difference between the two arms' recovery
rates, stratified the same way over the currencies both arms have (each weighted by its share
of the cases of both arms): z = difference / sqrt(sum(w_c^2 (se_champion_c^2 +
se_challenger_c^2))), p = 2 (1 - Φ(|z|)). A currency with fewer than two cases in either arm
has no spread to estimate and is left out of the test.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from domain.case_status import CASE_STATUSES
from domain.channels import CHANNELS
from domain.errors import InvalidInput
from domain.estimates import (
    NO_ESTIMATE,
    Estimate,
    Proportion,
    mean_estimate,
    normal_interval,
    ratio_estimate,
    two_sided_p_value,
    wilson,
)
from domain.fields import AMOUNT_MAX
from domain.money import parse_currency

# A case is cured when it ended with the debt paid: in full, by a completed plan, or settled.
CURED_STATUSES = ("paid", "settled", "plan_completed")
WRITTEN_OFF = "written_off"


@dataclass(frozen=True)
class CaseOutcome:
    """What one case came to: owed at opening, collected, its (final) status, the contacts
    made, by channel, and whether its days past due entered M1 and reached M2."""

    loan_id: str
    currency: str
    # Owed when the case was opened.
    overdue_minor: int
    # What payments took off the debt (an overpayment's excess is not collected).
    collected_minor: int
    final_status: str
    # Contact attempts made, by channel (`domain.channels.CHANNELS`); a channel not named: 0.
    contacts: Mapping[str, int]
    entered_m1: bool
    reached_m2: bool

    def __post_init__(self) -> None:
        parse_currency(self.currency, "currency")
        if not 0 < self.overdue_minor <= AMOUNT_MAX:
            raise InvalidInput("overdue_minor", f"must be from 1 to {AMOUNT_MAX}")
        if not 0 <= self.collected_minor <= AMOUNT_MAX:
            raise InvalidInput("collected_minor", f"must be from 0 to {AMOUNT_MAX}")
        if self.final_status not in CASE_STATUSES:
            raise InvalidInput(
                "final_status",
                f"must be one of {', '.join(CASE_STATUSES)}, not {self.final_status!r}",
            )
        for channel, count in self.contacts.items():
            if channel not in CHANNELS:
                raise InvalidInput("contacts", f"unknown channel {channel!r}")
            if count < 0:
                raise InvalidInput(f"contacts.{channel}", "must not be negative")

    @property
    def cured(self) -> bool:
        return self.final_status in CURED_STATUSES

    def contacts_on(self, channel: str) -> int:
        return self.contacts.get(channel, 0)


@dataclass(frozen=True)
class UnitCosts:
    """What one contact costs, by currency and channel, in the currency's minor units."""

    by_currency: Mapping[str, Mapping[str, int]]

    def cost_of(self, outcome: CaseOutcome) -> int | None:
        """What a case's contacts cost; None when there are no costs for its currency."""
        costs = self.by_currency.get(outcome.currency)
        if costs is None:
            return None
        return sum(costs[channel] * outcome.contacts_on(channel) for channel in CHANNELS)


def parse_unit_costs(data: Mapping[str, Any]) -> UnitCosts:
    """Unit costs from a table of currencies, each a table of every channel's cost (an
    integer, 0 or more, in minor units); raises `InvalidInput` naming the key at fault."""
    by_currency: dict[str, dict[str, int]] = {}
    for currency, costs in data.items():
        parse_currency(currency, currency)
        if not isinstance(costs, Mapping):
            raise InvalidInput(currency, "must be a table of costs by channel")
        unknown = sorted(set(costs) - set(CHANNELS))
        if unknown:
            raise InvalidInput(
                f"{currency}.{unknown[0]}", f"unknown channel; channels: {', '.join(CHANNELS)}"
            )
        by_currency[currency] = {}
        for channel in CHANNELS:
            key = f"{currency}.{channel}"
            if channel not in costs:
                raise InvalidInput(key, "missing: every channel needs a cost")
            cost = costs[channel]
            if isinstance(cost, bool) or not isinstance(cost, int) or not 0 <= cost <= AMOUNT_MAX:
                raise InvalidInput(key, f"must be an integer from 0 to {AMOUNT_MAX} (minor units)")
            by_currency[currency][channel] = cost
    return UnitCosts(by_currency)


@dataclass(frozen=True)
class CurrencyFigures:
    """An arm's money figures in one currency."""

    currency: str
    cases: int
    overdue_minor: int
    collected_minor: int
    # What the contacts cost; None when the unit costs have none for this currency.
    cost_minor: int | None
    recovery_rate: Estimate
    cost_per_unit_collected: Estimate


@dataclass(frozen=True)
class ArmFigures:
    cases: int
    # Collected / owed at opening (stratified by currency, see the module's docstring).
    recovery_rate: Estimate
    currencies: tuple[CurrencyFigures, ...]
    # Paid, settled or plan completed, over the cases.
    cure_rate: Proportion
    written_off: int
    # Every channel, in the order of `CHANNELS`.
    contacts: Mapping[str, int]
    contacts_per_case: Estimate
    contacts_per_case_by_channel: Mapping[str, Estimate]
    cost_per_unit_collected: Estimate
    # Of the cases that entered M1, the share that reached M2.
    roll_rate_m1_m2: Proportion


@dataclass(frozen=True)
class Comparison:
    """The challenger's recovery rate minus the champion's, its 95% interval, and the test."""

    difference: Estimate
    z: float | None
    p_value: float | None
    # The currencies the test compared (in both arms, with at least two cases in each).
    currencies: tuple[str, ...]


def arm_figures(outcomes: Iterable[CaseOutcome], unit_costs: UnitCosts) -> ArmFigures:
    """The figures of the cases of one arm."""
    cases = list(outcomes)
    currencies = tuple(
        _currency_figures(
            currency, [case for case in cases if case.currency == currency], unit_costs
        )
        for currency in sorted({case.currency for case in cases})
    )
    return ArmFigures(
        cases=len(cases),
        recovery_rate=stratified([(c.cases, c.recovery_rate) for c in currencies]),
        currencies=currencies,
        cure_rate=wilson(sum(case.cured for case in cases), len(cases)),
        written_off=sum(case.final_status == WRITTEN_OFF for case in cases),
        contacts={
            channel: sum(case.contacts_on(channel) for case in cases) for channel in CHANNELS
        },
        contacts_per_case=mean_estimate([sum(case.contacts.values()) for case in cases]),
        contacts_per_case_by_channel={
            channel: mean_estimate([case.contacts_on(channel) for case in cases])
            for channel in CHANNELS
        },
        cost_per_unit_collected=stratified(
            [(c.cases, c.cost_per_unit_collected) for c in currencies]
        ),
        roll_rate_m1_m2=wilson(
            sum(case.reached_m2 for case in cases if case.entered_m1),
            sum(case.entered_m1 for case in cases),
        ),
    )


def _currency_figures(
    currency: str, cases: Sequence[CaseOutcome], unit_costs: UnitCosts
) -> CurrencyFigures:
    collected = [case.collected_minor for case in cases]
    costs = [unit_costs.cost_of(case) for case in cases]
    known_costs = [cost for cost in costs if cost is not None]
    costed = len(known_costs) == len(costs)
    return CurrencyFigures(
        currency=currency,
        cases=len(cases),
        overdue_minor=sum(case.overdue_minor for case in cases),
        collected_minor=sum(collected),
        cost_minor=sum(known_costs) if costed else None,
        recovery_rate=ratio_estimate(collected, [case.overdue_minor for case in cases]),
        cost_per_unit_collected=ratio_estimate(known_costs, collected) if costed else NO_ESTIMATE,
    )


def stratified(strata: Sequence[tuple[int, Estimate]]) -> Estimate:
    """One estimate over strata (currencies) of `(cases, estimate)`: each weighted by its
    share of the cases. No value if a stratum has none; no interval if a stratum has none."""
    if len(strata) == 1:
        return strata[0][1]
    total = sum(cases for cases, _ in strata)
    values = [estimate.value for _, estimate in strata]
    if not strata or total == 0 or any(value is None for value in values):
        return NO_ESTIMATE
    value = sum(cases / total * (estimate.value or 0.0) for cases, estimate in strata)
    errors = [estimate.standard_error for _, estimate in strata]
    if any(error is None for error in errors):
        return Estimate(value)
    variance = sum(
        (cases / total) ** 2 * (estimate.standard_error or 0.0) ** 2 for cases, estimate in strata
    )
    return normal_interval(value, math.sqrt(variance))


def compare(champion: ArmFigures, challenger: ArmFigures) -> Comparison:
    """Whether the challenger's recovery rate differs from the champion's (see the module)."""
    theirs = {figures.currency: figures for figures in challenger.currencies}
    pairs = [
        (ours, theirs[ours.currency])
        for ours in champion.currencies
        if ours.currency in theirs
        and ours.recovery_rate.standard_error is not None
        and theirs[ours.currency].recovery_rate.standard_error is not None
    ]
    if not pairs:
        return Comparison(NO_ESTIMATE, None, None, ())
    total = sum(ours.cases + other.cases for ours, other in pairs)
    difference = 0.0
    variance = 0.0
    for ours, other in pairs:
        weight = (ours.cases + other.cases) / total
        difference += weight * (
            (other.recovery_rate.value or 0.0) - (ours.recovery_rate.value or 0.0)
        )
        variance += weight**2 * (
            (ours.recovery_rate.standard_error or 0.0) ** 2
            + (other.recovery_rate.standard_error or 0.0) ** 2
        )
    currencies = tuple(ours.currency for ours, _ in pairs)
    standard_error = math.sqrt(variance)
    if standard_error == 0:
        # Every case of both arms recovered the same share: no spread, no test.
        return Comparison(Estimate(difference), None, None, currencies)
    z = difference / standard_error
    return Comparison(
        normal_interval(difference, standard_error, floor=None),
        z,
        two_sided_p_value(z),
        currencies,
    )
