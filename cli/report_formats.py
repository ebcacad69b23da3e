"""The portfolio report as text tables, JSON and one CSV table (amounts per currency)."""

from __future__ import annotations

import csv
import io
from fractions import Fraction
from typing import Any

from cli.render import table
from domain.money import format_money, plain_amount
from domain.report import UNKNOWN_STAGE, CommitmentSummary, PortfolioReport, Ratio

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
    the broken). Amounts are decimals in the currency's unit; a rate is a fraction (0.25),
    empty when nothing was counted."""
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
    return buffer.getvalue()
