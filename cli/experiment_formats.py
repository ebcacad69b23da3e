"""An experiment's report (`starter.py report --experiment`) as text, JSON and one CSV table.

An arm's JSON (`arm_json`) carries each figure as a number under its own name and its 95%
interval beside it (`<figure>_ci95`: [low, high], null when too few cases show no spread).
"""

from __future__ import annotations

import csv
import io
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

from cli.render import table
from cli.report_formats import NO_RATE
from domain.channels import CHANNELS
from domain.estimates import Estimate, Proportion
from domain.experiment_report import ArmReport, ExperimentReport
from domain.money import format_money, plain_amount
from domain.strategy_figures import ArmFigures, Comparison, CurrencyFigures

METHODS = (
    "95% intervals: Wilson for the cure and roll rates; the ratio estimator's delta method "
    "(normal) for the recovery rate and the cost per unit collected, each within a currency "
    "and, over several, weighted by the currencies' shares of the cases; normal for means."
)
TEST = (
    "two-sided z-test of the difference in recovery rate: ratio estimators with delta-method "
    "standard errors, stratified by currency"
)
# The notes under the text's table are wrapped to this width.
NOTE_WIDTH = 100
CSV_COLUMNS = (
    "figure",
    "arm",
    "policies",
    "currency",
    "channel",
    "value",
    "low",
    "high",
    "numerator",
    "denominator",
    "experiment",
    "as_of",
)


# -- numbers -------------------------------------------------------------------------------
def _rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _significant(value: float | None) -> float | None:
    """Four significant digits: a p-value or a cost per unit may be far below 0.0001."""
    return None if value is None else float(f"{value:.4g}")


def ci95(
    estimate: Estimate, shown: Callable[[float | None], float | None] = _rounded
) -> list[float | None] | None:
    if estimate.low is None or estimate.high is None:
        return None
    return [shown(estimate.low), shown(estimate.high)]


# -- JSON ----------------------------------------------------------------------------------
def _figure(
    name: str, estimate: Estimate, shown: Callable[..., float | None] = _rounded
) -> dict[str, Any]:
    return {name: shown(estimate.value), f"{name}_ci95": ci95(estimate, shown)}


def currency_json(figures: CurrencyFigures) -> dict[str, Any]:
    return {
        "currency": figures.currency,
        "cases": figures.cases,
        "overdue_minor": figures.overdue_minor,
        "collected_minor": figures.collected_minor,
        "contact_cost_minor": figures.cost_minor,
        **_figure("recovery_rate", figures.recovery_rate),
        **_figure("cost_per_unit_collected", figures.cost_per_unit_collected, _significant),
    }


def arm_json(figures: ArmFigures) -> dict[str, Any]:
    """An arm's figures as a JSON object (the simulator prints the same per policy)."""
    return {
        "cases": figures.cases,
        **_figure("recovery_rate", figures.recovery_rate),
        **_figure("cure_rate", figures.cure_rate.estimate),
        "cured": figures.cure_rate.count,
        "written_off": figures.written_off,
        "contacts": dict(figures.contacts),
        **_figure("contacts_per_case", figures.contacts_per_case),
        "contacts_per_case_by_channel": {
            channel: _rounded(estimate.value)
            for channel, estimate in figures.contacts_per_case_by_channel.items()
        },
        "contacts_per_case_by_channel_ci95": {
            channel: ci95(estimate)
            for channel, estimate in figures.contacts_per_case_by_channel.items()
        },
        **_figure("cost_per_unit_collected", figures.cost_per_unit_collected, _significant),
        **_figure("roll_rate_m1_m2", figures.roll_rate_m1_m2.estimate),
        "entered_m1": figures.roll_rate_m1_m2.of,
        "reached_m2": figures.roll_rate_m1_m2.count,
        "currencies": [currency_json(currency) for currency in figures.currencies],
    }


def comparison_json(comparison: Comparison) -> dict[str, Any]:
    return {
        **_figure("recovery_rate_difference", comparison.difference),
        "z": _significant(comparison.z),
        "p_value": _significant(comparison.p_value),
        "test": TEST,
        "currencies": list(comparison.currencies),
    }


def experiment_json(report: ExperimentReport) -> dict[str, Any]:
    return {
        "experiment": report.experiment,
        "as_of": report.as_of.isoformat(),
        "cases": report.cases,
        "arms": {
            arm.arm: {"policies": list(arm.policies), **arm_json(arm.figures)}
            for arm in report.arms
        },
        "comparison": comparison_json(report.comparison),
    }


# -- text ----------------------------------------------------------------------------------
def interval_text(estimate: Estimate, shown: Callable[[float], str]) -> str:
    if estimate.value is None:
        return NO_RATE
    if estimate.low is None or estimate.high is None:
        return shown(estimate.value)
    return f"{shown(estimate.value)} ({shown(estimate.low)}–{shown(estimate.high)})"


def percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def decimal(value: float) -> str:
    return f"{value:.2f}"


def per_unit(value: float) -> str:
    """A cost per unit collected: three significant digits (0.00153, 2.14)."""
    return f"{value:.3g}"


def proportion_text(proportion: Proportion) -> str:
    if proportion.estimate.value is None:
        return NO_RATE
    return f"{interval_text(proportion.estimate, percent)}: {proportion.count} of {proportion.of}"


def arm_heading(arm: ArmReport) -> str:
    return f"{arm.arm} ({', '.join(arm.policies)})" if arm.policies else arm.arm


# A figure's label and its value in each arm.
Row = tuple[str, ...]


def figure_rows(report: ExperimentReport) -> list[Row]:
    """A row per figure: its label, the champion's value, the challenger's."""
    return arms_figure_rows([arm.figures for arm in report.arms])


def arms_figure_rows(arms: Sequence[ArmFigures]) -> list[Row]:
    """A row per figure: its label and its value in each of `arms` (an experiment's two, or
    the simulator's policies)."""

    def row(label: str, shown: Callable[[ArmFigures], str]) -> Row:
        return (label, *(shown(figures) for figures in arms))

    currencies = sorted({c.currency for f in arms for c in f.currencies})
    return [
        row("cases", lambda f: str(f.cases)),
        row("recovery rate", lambda f: interval_text(f.recovery_rate, percent)),
        *(row(f"  {code}", _in_currency(code, _recovered)) for code in currencies),
        row("cure rate", lambda f: proportion_text(f.cure_rate)),
        row("written off", lambda f: str(f.written_off)),
        row("roll rate M1→M2", lambda f: proportion_text(f.roll_rate_m1_m2)),
        row("contacts per case", lambda f: interval_text(f.contacts_per_case, decimal)),
        *(row(f"  {channel}", _channel_text(channel)) for channel in CHANNELS),
        row(
            "cost per unit collected", lambda f: interval_text(f.cost_per_unit_collected, per_unit)
        ),
        *(row(f"  {code}", _in_currency(code, _cost)) for code in currencies),
    ]


def _in_currency(code: str, shown: Callable[[CurrencyFigures], str]) -> Callable[[ArmFigures], str]:
    def text(figures: ArmFigures) -> str:
        found = [c for c in figures.currencies if c.currency == code]
        return shown(found[0]) if found else NO_RATE

    return text


def _recovered(figures: CurrencyFigures) -> str:
    collected = format_money(figures.collected_minor, figures.currency)
    overdue = format_money(figures.overdue_minor, figures.currency)
    return f"{interval_text(figures.recovery_rate, percent)}: {collected} of {overdue}"


def _cost(figures: CurrencyFigures) -> str:
    if figures.cost_minor is None:
        return f"{NO_RATE} (no unit costs for {figures.currency})"
    cost = format_money(figures.cost_minor, figures.currency)
    return f"{interval_text(figures.cost_per_unit_collected, per_unit)}: {cost} of contacts"


def _channel_text(channel: str) -> Callable[[ArmFigures], str]:
    def text(figures: ArmFigures) -> str:
        estimate = figures.contacts_per_case_by_channel[channel]
        return f"{interval_text(estimate, decimal)}: {figures.contacts[channel]} in all"

    return text


def comparison_text(comparison: Comparison) -> str:
    difference = comparison.difference
    if difference.value is None:
        return "Recovery rate, challenger − champion: no comparison (too few cases in a currency)"

    def points(value: float) -> str:
        return f"{value * 100:+.1f}"

    interval = ""
    if difference.low is not None and difference.high is not None:
        interval = f" (95% CI {points(difference.low)} to {points(difference.high)})"
    test = (
        f"z = {comparison.z:.2f}, p = {comparison.p_value:.4g}"
        if comparison.z is not None and comparison.p_value is not None
        else "no spread: no test"
    )
    return (
        f"Recovery rate, challenger − champion: {points(difference.value)} points{interval}; "
        f"{test}\nTest: {TEST}; compared: {', '.join(comparison.currencies)}."
    )


def experiment_text(report: ExperimentReport) -> str:
    headers = ("", *(arm_heading(arm) for arm in report.arms))
    return "\n".join(
        [
            f"Experiment {report.experiment} as of "
            f"{report.as_of.isoformat(timespec='seconds')}: {report.cases} case(s)",
            "",
            table(headers, figure_rows(report)),
            "",
            *(
                textwrap.fill(line, NOTE_WIDTH)
                for line in comparison_text(report.comparison).splitlines()
            ),
            textwrap.fill(METHODS, NOTE_WIDTH),
        ]
    )


# -- CSV -----------------------------------------------------------------------------------
def experiment_csv(report: ExperimentReport) -> str:
    """One table with a `figure` column, a row per figure and arm (and currency or channel
    where the figure has one): `cases`, `recovery_rate`, `cure_rate`, `written_off`,
    `roll_rate_m1_m2`, `contacts`, `contacts_per_case`, `cost_per_unit_collected`, then
    `recovery_rate_difference` and `p_value`. `value` is the figure (a rate as a fraction),
    `low` and `high` its 95% interval; `numerator` and `denominator` the counts or amounts (in
    the currency's unit) it is the ratio of."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    common = {"experiment": report.experiment, "as_of": report.as_of.isoformat()}
    for arm in report.arms:
        for figure, values in arm_csv_rows(arm.figures):
            writer.writerow(
                {
                    "figure": figure,
                    "arm": arm.arm,
                    "policies": " ".join(arm.policies),
                    **values,
                    **common,
                }
            )
    comparison = report.comparison
    writer.writerow(
        {"figure": "recovery_rate_difference", **_estimate_cells(comparison.difference), **common}
    )
    writer.writerow(
        {"figure": "p_value", "value": _blank(_significant(comparison.p_value)), **common}
    )
    return buffer.getvalue()


def _blank(value: float | None) -> float | str:
    return "" if value is None else value


def _estimate_cells(
    estimate: Estimate, shown: Callable[[float | None], float | None] = _rounded
) -> dict[str, Any]:
    return {
        "value": _blank(shown(estimate.value)),
        "low": _blank(shown(estimate.low)),
        "high": _blank(shown(estimate.high)),
    }


def arm_csv_rows(figures: ArmFigures) -> list[tuple[str, dict[str, Any]]]:
    rows: list[tuple[str, dict[str, Any]]] = [
        ("cases", {"value": figures.cases}),
        ("recovery_rate", _estimate_cells(figures.recovery_rate)),
    ]
    for currency in figures.currencies:
        code = currency.currency
        amounts = {
            "numerator": plain_amount(currency.collected_minor, code),
            "denominator": plain_amount(currency.overdue_minor, code),
        }
        rows.append(
            (
                "recovery_rate",
                {"currency": code, **_estimate_cells(currency.recovery_rate), **amounts},
            )
        )
    for name, proportion in (
        ("cure_rate", figures.cure_rate),
        ("roll_rate_m1_m2", figures.roll_rate_m1_m2),
    ):
        counts = {"numerator": proportion.count, "denominator": proportion.of}
        rows.append((name, {**_estimate_cells(proportion.estimate), **counts}))
    rows.append(("written_off", {"value": figures.written_off}))
    rows += [("contacts", {"channel": c, "value": n}) for c, n in figures.contacts.items()]
    rows.append(("contacts_per_case", _estimate_cells(figures.contacts_per_case)))
    rows += [
        ("contacts_per_case", {"channel": channel, **_estimate_cells(estimate)})
        for channel, estimate in figures.contacts_per_case_by_channel.items()
    ]
    rows.append(
        ("cost_per_unit_collected", _estimate_cells(figures.cost_per_unit_collected, _significant))
    )
    for currency in figures.currencies:
        code = currency.currency
        cost = "" if currency.cost_minor is None else plain_amount(currency.cost_minor, code)
        cells = _estimate_cells(currency.cost_per_unit_collected, _significant)
        amounts = {"numerator": cost, "denominator": plain_amount(currency.collected_minor, code)}
        rows.append(("cost_per_unit_collected", {"currency": code, **cells, **amounts}))
    return rows
