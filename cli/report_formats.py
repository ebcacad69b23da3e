"""The portfolio report as text tables, JSON and one CSV table (amounts per currency)."""

from __future__ import annotations

import csv
import io
from fractions import Fraction
from typing import Any

from cli.render import table
from domain.debt import COMPONENTS, Parts
from domain.money import format_money, plain_amount
from domain.report import UNKNOWN_STAGE, CommitmentSummary, CurrencySummary, PortfolioReport, Ratio

# The latest date on any borrower's calendar (UTC+14): a later --as-of is in the future.
NO_RATE = "—"
CSV_COLUMNS = (
    "figure",
    "stage",
    "bucket",
    "to_bucket",
    "currency",
    "cases",
    "overdue",
    "outstanding",
    "collected",
    "numerator",
    "denominator",
    "rate",
    "as_of",
    # The figures by part (collected, charged off, recovered); after the others, which keep
    # their places.
    *COMPONENTS,
)
# The figures by part, as text, JSON and CSV name them.
PART_FIGURES = (
    ("collected", "collected_by_part"),
    ("charged off at write-off", "charged_off_by_part"),
    ("recovered after write-off", "recovered_by_part"),
)


def rate_value(ratio: Ratio) -> float | None:
    """A rate for machines: a fraction rounded to 4 decimals, None when nothing was counted."""
    value = ratio.value
    return None if value is None else round(float(value), 4)


def rate_text(ratio: Ratio) -> str:
    value = ratio.value
    return NO_RATE if value is None else f"{_percent(value)}%"


def _percent(value: Fraction) -> str:
    return f"{float(value * 100):.1f}"


def _csv_rate(ratio: Ratio) -> float | str:
    rate = rate_value(ratio)
    return "" if rate is None else rate


def _commitment_json(summary: CommitmentSummary, succeeded: str) -> dict[str, Any]:
    return {
        "made": summary.made,
        succeeded: summary.succeeded,
        "broken": summary.broken,
        "pending": summary.pending,
        "rate": rate_value(summary.ratio),
    }


def report_json(report: PortfolioReport) -> dict[str, Any]:
    """The report as a JSON object; amounts in minor units, per currency."""
    return {
        "as_of": report.as_of.label(),
        "cases": report.cases,
        "portfolio": [
            {
                "stage": cell.stage,
                "bucket": cell.bucket,
                "currency": cell.currency,
                "cases": cell.cases,
                "overdue_minor": cell.overdue_minor,
                "outstanding_minor": cell.outstanding_minor,
            }
            for cell in report.cells
        ],
        "currencies": [
            {
                "currency": total.currency,
                "cases": total.cases,
                "overdue_minor": total.overdue_minor,
                "outstanding_minor": total.outstanding_minor,
                "collected_minor": total.collected_minor,
                "recovery_rate": rate_value(total.recovery),
                **_parts_json(total),
            }
            for total in report.currencies
        ],
        "roll_rates": [
            {
                "from": roll.from_bucket,
                "to": roll.to_bucket,
                "cases": roll.ratio.denominator,
                "rolled": roll.ratio.numerator,
                "rate": rate_value(roll.ratio),
            }
            for roll in report.roll_rates
        ],
        "promises": _commitment_json(report.promises, "kept"),
        "plans": _commitment_json(report.plans, "completed"),
    }


def part_figures(total: CurrencySummary) -> list[tuple[str, str, Parts]]:
    """A currency's figures by part: (label, key, parts) in the order of `PART_FIGURES`."""
    parts = total.parts
    values = (parts.collected, parts.charged_off, parts.recovered)
    return [(label, key, value) for (label, key), value in zip(PART_FIGURES, values, strict=True)]


def _parts_json(total: CurrencySummary) -> dict[str, Any]:
    """The keys by part of a currency's JSON entry (beside the contract's, never instead)."""
    figures = {key: value.as_json() for _, key, value in part_figures(total)}
    return {
        "collected_by_part": figures["collected_by_part"],
        "written_off_cases": total.parts.written_off_cases,
        "charged_off_minor": total.parts.charged_off.total_minor,
        "charged_off_by_part": figures["charged_off_by_part"],
        "recovered_minor": total.parts.recovered.total_minor,
        "recovered_by_part": figures["recovered_by_part"],
    }


Rows = tuple[tuple[str, ...], list[tuple[Any, ...]]]


def portfolio_rows(report: PortfolioReport) -> Rows:
    return (
        ("stage", "bucket", "cases", "overdue at opening", "outstanding"),
        [
            (
                cell.stage,
                cell.bucket,
                cell.cases,
                format_money(cell.overdue_minor, cell.currency),
                format_money(cell.outstanding_minor, cell.currency),
            )
            for cell in report.cells
        ],
    )


def currency_rows(report: PortfolioReport) -> Rows:
    return (
        ("currency", "cases", "overdue at opening", "collected", "outstanding", "recovery"),
        [
            (
                total.currency,
                total.cases,
                format_money(total.overdue_minor, total.currency),
                format_money(total.collected_minor, total.currency),
                format_money(total.outstanding_minor, total.currency),
                rate_text(total.recovery),
            )
            for total in report.currencies
        ],
    )


def part_rows(report: PortfolioReport) -> Rows:
    return (
        ("currency", "", *COMPONENTS, "total"),
        [
            (
                total.currency,
                label,
                *(format_money(value.of(component), total.currency) for component in COMPONENTS),
                format_money(value.total_minor, total.currency),
            )
            for total in report.currencies
            for label, _, value in part_figures(total)
        ],
    )


def roll_rows(report: PortfolioReport) -> Rows:
    return (
        ("from", "to", "cases", "rolled", "rate"),
        [
            (
                roll.from_bucket,
                roll.to_bucket,
                roll.ratio.denominator,
                roll.ratio.numerator,
                rate_text(roll.ratio),
            )
            for roll in report.roll_rates
        ],
    )


def commitment_rows(report: PortfolioReport) -> Rows:
    return (
        ("", "made", "kept/completed", "broken", "pending", "rate"),
        [
            (
                label,
                summary.made,
                summary.succeeded,
                summary.broken,
                summary.pending,
                rate_text(summary.ratio),
            )
            for label, summary in (
                ("promises kept", report.promises),
                ("plans completed", report.plans),
            )
        ],
    )


def as_of_text(report: PortfolioReport) -> str:
    if report.as_of.day is not None:
        return f"the end of {report.as_of.day} in each borrower's calendar"
    return report.as_of.now.isoformat(timespec="seconds")


SECTIONS = (
    ("By stage and bucket (outstanding of a closed case: written off or forgiven)", portfolio_rows),
    ("Recovery so far (collected / overdue at opening)", currency_rows),
    (
        "By part (collected; what written-off cases owed at write-off; recovered since)",
        part_rows,
    ),
    ("Roll rates (of the cases in a bucket while open, the share that rolled on)", roll_rows),
    (
        "Commitments (rate: kept / (kept + broken), completed / (completed + broken))",
        commitment_rows,
    ),
)


UNKNOWN_STAGE_NOTE = (
    f"{UNKNOWN_STAGE}: open that day, in a stage not on record (the case database keeps only "
    "the latest)"
)


def notes(report: PortfolioReport) -> list[str]:
    """What a reader needs to know to read the figures right."""
    if any(cell.stage == UNKNOWN_STAGE for cell in report.cells):
        return [UNKNOWN_STAGE_NOTE]
    return []


def report_text(report: PortfolioReport) -> str:
    parts = [f"Portfolio report as of {as_of_text(report)}: {report.cases} case(s)"]
    for title, rows in SECTIONS:
        parts.append(f"\n{title}")
        parts.append(table(*rows(report)))
        if rows is portfolio_rows:
            parts += notes(report)
    return "\n".join(parts)


def report_csv(report: PortfolioReport) -> str:
    """One table with a `figure` column, so a spreadsheet loads it as is and can pivot it:
    `portfolio` (a row per stage, bucket and currency), `currency` (totals and the recovery
    rate), `roll_rate` (numerator: cases that rolled from `bucket` to `to_bucket`), and
    `promise_kept` and `plan_completed` (numerator: kept or completed; denominator: those plus
    the broken), then per currency `collected_by_part`, `charged_off_by_part` and
    `recovered_by_part` (the columns `principal`, `interest`, `fees`, `penalty`). Amounts are
    decimals in the currency's unit; a rate is a fraction (0.25), empty when nothing was
    counted."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    as_of = report.as_of.label()

    def row(figure: str, **values: Any) -> None:
        writer.writerow({"figure": figure, "as_of": as_of, **values})

    def ratio_cells(ratio: Ratio) -> dict[str, Any]:
        return {
            "numerator": ratio.numerator,
            "denominator": ratio.denominator,
            "rate": _csv_rate(ratio),
        }

    for cell in report.cells:
        row(
            "portfolio",
            stage=cell.stage,
            bucket=cell.bucket,
            currency=cell.currency,
            cases=cell.cases,
            overdue=plain_amount(cell.overdue_minor, cell.currency),
            outstanding=plain_amount(cell.outstanding_minor, cell.currency),
        )
    for total in report.currencies:
        row(
            "currency",
            currency=total.currency,
            cases=total.cases,
            overdue=plain_amount(total.overdue_minor, total.currency),
            outstanding=plain_amount(total.outstanding_minor, total.currency),
            collected=plain_amount(total.collected_minor, total.currency),
            # The recovery rate's two amounts are the columns collected and overdue.
            rate=_csv_rate(total.recovery),
        )
    for roll in report.roll_rates:
        row(
            "roll_rate",
            bucket=roll.from_bucket,
            to_bucket=roll.to_bucket,
            cases=roll.ratio.denominator,
            **ratio_cells(roll.ratio),
        )
    row("promise_kept", **ratio_cells(report.promises.ratio))
    row("plan_completed", **ratio_cells(report.plans.ratio))
    for figure, values in _part_csv_rows(report):
        row(figure, **values)
    return buffer.getvalue()


def _part_csv_rows(report: PortfolioReport) -> list[tuple[str, dict[str, Any]]]:
    """The figures by part, a row per currency and figure, after the other rows; `cases` of
    `charged_off_by_part` counts the written-off cases."""
    rows = []
    for total in report.currencies:
        for _, key, value in part_figures(total):
            cases = total.parts.written_off_cases if key == "charged_off_by_part" else ""
            amounts = {
                component: plain_amount(value.of(component), total.currency)
                for component in COMPONENTS
            }
            rows.append((key, {"currency": total.currency, "cases": cases, **amounts}))
    return rows
