"""The figures of a strategy's arm and the comparison of two arms, checked against values
worked out by hand (and, for the Wilson interval, the published textbook figures); the unit
costs file and its refusals."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from domain.channels import CHANNELS
from domain.errors import InvalidInput
from domain.estimates import (
    Z_95,
    mean_estimate,
    ratio_estimate,
    two_sided_p_value,
    wilson,
)
from domain.strategy_figures import (
    CaseOutcome,
    UnitCosts,
    arm_figures,
    compare,
    parse_unit_costs,
)
from policies import available_policies
from policies.unit_costs import UNIT_COSTS_FILE, load_unit_costs
from runtime import settings

COSTS = UnitCosts(
    {
        "CNY": {"sms": 5, "email": 1, "letter": 500, "call": 400, "field_visit": 20000, "legal": 0},
        "USD": {"sms": 1, "email": 0, "letter": 80, "call": 500, "field_visit": 0, "legal": 0},
    }
)


def outcome(
    collected: int,
    *,
    overdue: int = 100_000,
    currency: str = "CNY",
    status: str = "active",
    contacts: dict[str, int] | None = None,
    entered_m1: bool = True,
    reached_m2: bool = False,
) -> CaseOutcome:
    return CaseOutcome(
        loan_id="L-1",
        currency=currency,
        overdue_minor=overdue,
        collected_minor=collected,
        final_status=status,
        contacts=contacts or {},
        entered_m1=entered_m1,
        reached_m2=reached_m2,
    )


# -- the estimates -------------------------------------------------------------------------
def test_the_wilson_interval_is_the_textbook_one() -> None:
    # 8 of 10: Wilson 95% interval 0.4902 to 0.9433 (Newcombe 1998, Table I); 0 of 5: 0 to 0.4345.
    eight = wilson(8, 10).estimate
    assert eight.value == 0.8
    assert eight.low == pytest.approx(0.4902, abs=1e-4)
    assert eight.high == pytest.approx(0.9433, abs=1e-4)
    none = wilson(0, 5).estimate
    assert none.low == 0.0
    assert none.high == pytest.approx(0.4345, abs=1e-4)
    assert wilson(0, 0).estimate.value is None


def test_the_ratio_estimator_has_a_delta_method_interval() -> None:
    # R = 150 / 300 = 0.5; residuals 50, -50, 0: se = sqrt(5000 / 2 / 3) / 100 = 0.288675.
    estimate = ratio_estimate([100, 0, 50], [100, 100, 100])
    assert estimate.value == 0.5
    assert estimate.standard_error == pytest.approx(math.sqrt(5000 / 2 / 3) / 100)
    # The low end, 0.5 - 0.5658, is cut at 0: no rate is negative.
    assert estimate.low == 0.0
    assert estimate.high == pytest.approx(0.5 + Z_95 * 0.288675, abs=1e-6)
    one_case = ratio_estimate([30], [100])
    assert (one_case.value, one_case.low, one_case.high) == (0.3, None, None)
    assert ratio_estimate([], []).value is None
    assert ratio_estimate([0, 0], [0, 0]).value is None


def test_a_mean_has_a_normal_interval() -> None:
    # Mean 3, sample variance (4 + 1 + 0 + 9) / 3 = 14/3, se = sqrt(14/3 / 4) = 1.0801.
    estimate = mean_estimate([1, 2, 3, 6])
    assert estimate.value == 3.0
    assert estimate.standard_error == pytest.approx(math.sqrt(14 / 12))
    assert estimate.low == pytest.approx(3 - Z_95 * math.sqrt(14 / 12))


def test_the_p_value_is_two_sided() -> None:
    assert two_sided_p_value(Z_95) == pytest.approx(0.05)
    assert two_sided_p_value(-Z_95) == pytest.approx(0.05)
    assert two_sided_p_value(0.0) == 1.0


# -- an arm's figures ----------------------------------------------------------------------
def test_an_arm_counts_cures_write_offs_contacts_and_the_roll_rate() -> None:
    cases = [
        outcome(100_000, status="paid", contacts={"sms": 2}),
        outcome(50_000, status="settled", contacts={"sms": 1, "call": 1}),
        outcome(20_000, status="plan_completed", contacts={"email": 1}, entered_m1=False),
        outcome(
            0,
            status="written_off",
            contacts={"sms": 3, "call": 2, "field_visit": 1},
            reached_m2=True,
        ),
        outcome(10_000, status="in_plan", contacts={"letter": 1}, reached_m2=True),
    ]
    figures = arm_figures(cases, COSTS)
    assert figures.cases == 5
    assert (figures.cure_rate.count, figures.cure_rate.of) == (3, 5)
    assert figures.cure_rate.estimate.value == 0.6
    assert figures.written_off == 1
    assert figures.contacts == {
        "sms": 6,
        "email": 1,
        "letter": 1,
        "call": 3,
        "field_visit": 1,
        "legal": 0,
    }
    assert list(figures.contacts) == list(CHANNELS)
    # 2 + 2 + 1 + 6 + 1 = 12 contacts over 5 cases.
    assert figures.contacts_per_case.value == pytest.approx(12 / 5)
    assert figures.contacts_per_case_by_channel["sms"].value == pytest.approx(6 / 5)
    assert figures.contacts_per_case_by_channel["legal"].value == 0.0
    # 4 entered M1, 2 of them reached M2 (the one that never entered M1 does not count).
    assert (figures.roll_rate_m1_m2.count, figures.roll_rate_m1_m2.of) == (2, 4)
    # 180,000 of 500,000 collected.
    assert figures.recovery_rate.value == pytest.approx(0.36)
    # Costs: 10 + 405 + 1 + (15 + 800 + 20000) + 500 = 21,731 fen for 180,000 collected.
    (cny,) = figures.currencies
    assert cny.cost_minor == 21_731
    assert figures.cost_per_unit_collected.value == pytest.approx(21_731 / 180_000)
    assert cny.cost_per_unit_collected == figures.cost_per_unit_collected


def test_an_arm_never_adds_one_currency_to_another() -> None:
    cny = [outcome(100_000), outcome(0), outcome(50_000), outcome(50_000)]
    usd = [outcome(1_000, overdue=1_000, currency="USD"), outcome(0, overdue=3_000, currency="USD")]
    figures = arm_figures([*cny, *usd], COSTS)
    by_currency = {c.currency: c for c in figures.currencies}
    assert by_currency["CNY"].overdue_minor == 400_000
    assert by_currency["CNY"].collected_minor == 200_000
    assert by_currency["USD"].overdue_minor == 4_000
    assert by_currency["CNY"].recovery_rate.value == 0.5
    assert by_currency["USD"].recovery_rate.value == 0.25
    # Weighted by cases (4 and 2), not by CNY + USD amounts (which would give 201,000 / 404,000).
    assert figures.recovery_rate.value == pytest.approx(4 / 6 * 0.5 + 2 / 6 * 0.25)
    cny_se = by_currency["CNY"].recovery_rate.standard_error
    usd_se = by_currency["USD"].recovery_rate.standard_error
    assert cny_se is not None and usd_se is not None
    assert figures.recovery_rate.standard_error == pytest.approx(
        math.sqrt((4 / 6) ** 2 * cny_se**2 + (2 / 6) ** 2 * usd_se**2)
    )


def test_a_currency_without_unit_costs_has_no_cost_figure() -> None:
    figures = arm_figures([outcome(100, overdue=100, currency="GBP", contacts={"sms": 1})], COSTS)
    (gbp,) = figures.currencies
    assert gbp.cost_minor is None
    assert gbp.cost_per_unit_collected.value is None
    assert figures.cost_per_unit_collected.value is None
    assert gbp.recovery_rate.value == 1.0


def test_an_empty_arm_has_no_rates() -> None:
    figures = arm_figures([], COSTS)
    assert figures.cases == 0
    assert figures.recovery_rate.value is None
    assert figures.cure_rate.estimate.value is None
    assert figures.roll_rate_m1_m2.estimate.value is None
    assert figures.contacts_per_case.value is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"currency": "XYZ"}, "currency"),
        ({"overdue_minor": 0}, "overdue_minor"),
        ({"collected_minor": -1}, "collected_minor"),
        ({"final_status": "done"}, "final_status"),
        ({"contacts": {"pigeon": 1}}, "contacts"),
        ({"contacts": {"sms": -1}}, "contacts.sms"),
    ],
)
def test_a_bad_outcome_is_refused_naming_the_field(changes: dict[str, Any], field: str) -> None:
    values: dict[str, Any] = {
        "loan_id": "L-1",
        "currency": "CNY",
        "overdue_minor": 100,
        "collected_minor": 0,
        "final_status": "active",
        "contacts": {},
        "entered_m1": True,
        "reached_m2": False,
        **changes,
    }
    with pytest.raises(InvalidInput) as refused:
        CaseOutcome(**values)
    assert refused.value.field == field


# -- comparing two arms --------------------------------------------------------------------
def test_compare_tests_the_difference_in_recovery_rate() -> None:
    # Champion: 200 of 400 collected; challenger: 300 of 400.
    champion = arm_figures([outcome(c, overdue=100) for c in (100, 100, 0, 0)], COSTS)
    challenger = arm_figures([outcome(c, overdue=100) for c in (100, 100, 100, 0)], COSTS)
    # Residuals ±50: se^2 = 10000 / 3 / 4 / 100^2 = 1/12; residuals 25, 25, 25, -75: 1/16.
    assert champion.recovery_rate.standard_error == pytest.approx(math.sqrt(1 / 12))
    assert challenger.recovery_rate.standard_error == pytest.approx(math.sqrt(1 / 16))
    result = compare(champion, challenger)
    z = 0.25 / math.sqrt(1 / 12 + 1 / 16)
    assert result.difference.value == pytest.approx(0.25)
    assert result.z == pytest.approx(z)
    # 2 (1 - Φ(0.6547)) = 2 (1 - 0.74367) from the normal table.
    assert result.p_value == pytest.approx(0.5127, abs=1e-4)
    assert result.difference.low == pytest.approx(0.25 - Z_95 * math.sqrt(7 / 48))
    assert result.difference.low is not None and result.difference.low < 0
    assert result.currencies == ("CNY",)
    # The other way round: the same p-value, the opposite difference.
    backwards = compare(challenger, champion)
    assert backwards.p_value == pytest.approx(result.p_value)
    assert backwards.difference.value == pytest.approx(-0.25)


def test_a_large_difference_over_many_cases_is_significant() -> None:
    champion = arm_figures([outcome(c, overdue=100) for c in [100] * 200 + [0] * 800], COSTS)
    challenger = arm_figures([outcome(c, overdue=100) for c in [100] * 300 + [0] * 700], COSTS)
    result = compare(champion, challenger)
    assert result.p_value is not None and result.p_value < 1e-5
    same = compare(champion, champion)
    assert same.p_value == 1.0


def test_compare_leaves_out_what_cannot_be_compared() -> None:
    cny = arm_figures([outcome(100), outcome(0)], COSTS)
    usd = arm_figures([outcome(1, overdue=10, currency="USD"), outcome(0, currency="USD")], COSTS)
    assert compare(cny, usd).p_value is None
    assert compare(cny, usd).currencies == ()
    # Every case of both arms recovered everything: no spread, no test.
    full = arm_figures([outcome(100_000), outcome(100_000)], COSTS)
    assert compare(full, full).p_value is None
    assert compare(full, full).difference.value == 0.0


# -- unit costs ----------------------------------------------------------------------------
EVERY_CHANNEL = {channel: 1 for channel in CHANNELS}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"XYZ": EVERY_CHANNEL}, "XYZ"),
        ({"CNY": 5}, "CNY"),
        ({"CNY": {**EVERY_CHANNEL, "pigeon": 1}}, "CNY.pigeon"),
        ({"CNY": {k: v for k, v in EVERY_CHANNEL.items() if k != "legal"}}, "CNY.legal"),
        ({"CNY": {**EVERY_CHANNEL, "sms": -1}}, "CNY.sms"),
        ({"CNY": {**EVERY_CHANNEL, "call": 1.5}}, "CNY.call"),
        ({"CNY": {**EVERY_CHANNEL, "email": True}}, "CNY.email"),
        ({"CNY": {**EVERY_CHANNEL, "letter": "5"}}, "CNY.letter"),
    ],
)
def test_bad_unit_costs_are_refused_naming_the_key(data: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_unit_costs(data)
    assert refused.value.field == field


def test_the_shipped_unit_costs_cost_every_channel_of_the_demo_currencies() -> None:
    costs = load_unit_costs()
    assert {"CNY", "USD", "GBP"} <= set(costs.by_currency)
    assert all(set(by_channel) == set(CHANNELS) for by_channel in costs.by_currency.values())
    # A configuration file, not a policy; named from the checkout when refused.
    assert "unit_costs" not in available_policies()
    assert UNIT_COSTS_FILE.name == "unit_costs.toml"


def test_a_unit_costs_file_is_refused_naming_the_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "costs.toml"
    path.write_text("[CNY]\nsms = -2\n", encoding="utf-8")
    with pytest.raises(InvalidInput) as refused:
        load_unit_costs(path)
    assert refused.value.field == f"{path}: CNY.sms"
    path.write_text("[CNY\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="is not TOML") as not_toml:
        load_unit_costs(path)
    assert not_toml.value.field == str(path)
    with pytest.raises(InvalidInput, match="cannot be read"):
        load_unit_costs(tmp_path / "missing.toml")


def test_the_environment_names_another_unit_costs_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "costs.toml"
    path.write_text(
        "[JPY]\n" + "".join(f"{channel} = 7\n" for channel in CHANNELS), encoding="utf-8"
    )
    monkeypatch.delenv(settings.UNIT_COSTS_ENV, raising=False)
    assert settings.unit_costs_path().resolve() == UNIT_COSTS_FILE.resolve()
    monkeypatch.setenv(settings.UNIT_COSTS_ENV, str(path))
    assert settings.unit_costs_path() == path
    assert load_unit_costs(path).by_currency == {"JPY": dict.fromkeys(CHANNELS, 7)}
