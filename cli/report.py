"""`starter.py report`: the portfolio report, read from the case database alone.

The figures are `domain.report`'s; this module reads the rows they need (no personal data:
the `cases`, `payments` and `case_events` tables hold none) and writes them as text, JSON, CSV
(one table a spreadsheet loads as is) or a self-contained HTML page with inline SVG charts.
No Temporal server is needed.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import inspect
from sqlalchemy import select as sa_select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

from activities.store import Store, normalize_url
from cli.console import UsageError
from cli.render import table
from domain.clock import BUCKETS
from domain.money import MINOR_UNIT_DIGITS, format_money
from domain.report import (
    COMMITMENT_KINDS,
    UNKNOWN_STAGE,
    AsOf,
    CommitmentSummary,
    PortfolioReport,
    Ratio,
    ReportCase,
    ReportEvent,
    ReportPayment,
    build_report,
)
from migrations.tables import CaseEventRow, CaseRow, PaymentRow
from runtime import settings

NO_RATE = "—"
# The latest date on any borrower's calendar (UTC+14): a later --as-of is in the future.
EARTH_AHEAD = timedelta(hours=14)
CASE_COLUMNS = (
    "case_id",
    "currency",
    "overdue_amount_minor",
    "due_date",
    "timezone",
    "stage",
    "days_past_due",
    "opened_at",
    "updated_at",
    "closed_at",
)
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


class ReportError(Exception):
    """The case database cannot be read as a report needs (missing, empty of tables, bad row)."""


# -- reading the database ------------------------------------------------------------------
@dataclass(frozen=True)
class ReportRows:
    cases: list[ReportCase]
    payments: list[ReportPayment]
    events: list[ReportEvent]


def open_case_database(url: str) -> Store:
    """The case database at `url`, refusing (not creating) a SQLite file that is not there."""
    parsed = make_url(normalize_url(url))
    shown = parsed.render_as_string(hide_password=True)
    database = parsed.database
    on_disk = parsed.get_backend_name() == "sqlite" and database and database != ":memory:"
    # Connecting would create an empty file: say instead that there is none.
    if on_disk and not Path(str(database)).exists():
        raise ReportError(f"no case database at {database} (DATABASE_URL={shown})")
    store = Store.from_url(url)
    try:
        has_cases = inspect(store.engine).has_table(CaseRow.__tablename__)
    except SQLAlchemyError as error:
        store.dispose()
        raise ReportError(f"cannot read the case database {shown}: {error}") from error
    if not has_cases:
        store.dispose()
        raise ReportError(f"the case database {shown} has no cases table yet")
    return store


def read_rows(store: Store) -> ReportRows:
    """The rows the report counts: every case, applied payments, commitment events."""
    with store.reading() as session:
        # The columns the report reads, not whole rows (`planned_ladder` is long text).
        case_rows = session.execute(
            sa_select(*(col(getattr(CaseRow, name)) for name in CASE_COLUMNS)).order_by(
                col(CaseRow.case_id)
            )
        ).all()
        payment_rows = session.exec(
            select(PaymentRow.case_id, PaymentRow.applied_minor, PaymentRow.received_at).where(
                col(PaymentRow.status) == "applied"
            )
        ).all()
        event_rows = session.exec(
            select(
                CaseEventRow.case_id, CaseEventRow.kind, CaseEventRow.ref_id, CaseEventRow.at
            ).where(col(CaseEventRow.kind).in_(COMMITMENT_KINDS))
        ).all()
    return ReportRows(
        cases=[_case(dict(zip(CASE_COLUMNS, row, strict=True))) for row in case_rows],
        payments=[
            ReportPayment(case_id, applied, _instant(received_at, case_id, "received_at"))
            for case_id, applied, received_at in payment_rows
        ],
        events=[
            ReportEvent(case_id, kind, ref_id or "", _instant(at, case_id, "at"))
            for case_id, kind, ref_id, at in event_rows
        ],
    )


def _case(row: dict[str, Any]) -> ReportCase:
    case_id, timezone, due_date = row["case_id"], row["timezone"], row["due_date"]
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ReportError(f"case {case_id}: timezone {timezone!r} is not an IANA name") from error
    try:
        due = date.fromisoformat(due_date)
    except ValueError as error:
        raise ReportError(f"case {case_id}: due_date {due_date!r} is not a date") from error
    return ReportCase(
        case_id=case_id,
        currency=row["currency"],
        overdue_amount_minor=row["overdue_amount_minor"],
        due_date=due,
        timezone=timezone,
        stage=row["stage"],
        days_past_due=row["days_past_due"],
        opened_at=_instant(row["opened_at"], case_id, "opened_at"),
        updated_at=_instant(row["updated_at"], case_id, "updated_at"),
        closed_at=_instant(row["closed_at"], case_id, "closed_at") if row["closed_at"] else None,
    )


def _instant(text: str, case_id: str, column: str) -> datetime:
    """A stored timestamp (UTC ISO-8601, see `activities.store.utc_iso`) as an aware instant."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError) as error:
        raise ReportError(f"case {case_id}: {column} {text!r} is not a timestamp") from error
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def parse_as_of(text: str | None, now: datetime) -> AsOf:
    """`--as-of YYYY-MM-DD`, not after the latest date on any borrower's calendar."""
    if text is None:
        return AsOf(now=now)
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--as-of: {text!r} is not a date (YYYY-MM-DD)") from None
    if day > (now.astimezone(UTC) + EARTH_AHEAD).date():
        raise UsageError(f"--as-of: {day} is in the future")
    return AsOf(now=now, day=day)


def load_report(store: Store, as_of: AsOf) -> PortfolioReport:
    rows = read_rows(store)
    return build_report(rows.cases, rows.payments, rows.events, as_of)


# -- formats -------------------------------------------------------------------------------
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


def plain_amount(amount_minor: int, currency: str) -> str:
    """`500000, "CNY"` -> `"5000.00"`: a number a spreadsheet reads, in the currency's unit."""
    digits = MINOR_UNIT_DIGITS.get(currency, 2)
    sign = "-" if amount_minor < 0 else ""
    whole, fraction = divmod(abs(amount_minor), 10**digits)
    return f"{sign}{whole}" + (f".{fraction:0{digits}d}" if digits else "")


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


# -- HTML with inline SVG charts -----------------------------------------------------------
@dataclass(frozen=True)
class Bar:
    label: str
    value: Fraction | int | None
    text: str


CHART_WIDTH = 640
LABEL_WIDTH = 150
BAR_AREA = 340
BAR_HEIGHT = 20
BAR_GAP = 8
TOP = 34
BAR_COLOUR = "#3a6ea5"


def svg_bar_chart(
    title: str, bars: Sequence[Bar], *, full_scale: Fraction | int | None = None
) -> str:
    """A horizontal bar chart as inline SVG; a bar without a value (no rate) shows "—"."""
    values = [bar.value for bar in bars if bar.value is not None]
    scale = full_scale if full_scale is not None else max(values, default=0)
    height = TOP + len(bars) * (BAR_HEIGHT + BAR_GAP) + 4
    shapes = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH}" height="{height}" '
        f'viewBox="0 0 {CHART_WIDTH} {height}" role="img" aria-label="{_h(title)}" '
        'font-family="system-ui, sans-serif" font-size="13">',
        f"<title>{_h(title)}</title>",
        f'<text x="0" y="18" font-size="14" font-weight="bold">{_h(title)}</text>',
    ]
    for index, bar in enumerate(bars):
        y = TOP + index * (BAR_HEIGHT + BAR_GAP)
        width = 0.0
        if bar.value is not None and scale:
            width = round(BAR_AREA * float(Fraction(bar.value) / Fraction(scale)), 1)
        middle = y + BAR_HEIGHT / 2 + 4
        shapes += [
            f'<text x="{LABEL_WIDTH - 8}" y="{middle}" text-anchor="end">{_h(bar.label)}</text>',
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{width}" height="{BAR_HEIGHT}" '
            f'fill="{BAR_COLOUR}"/>',
            f'<text x="{LABEL_WIDTH + width + 6}" y="{middle}">{_h(bar.text)}</text>',
        ]
    shapes.append("</svg>")
    return "\n".join(shapes)


def charts(report: PortfolioReport) -> list[str]:
    """Every chart of the page: counts, then money per currency, then rates."""
    by_bucket = report.cases_by("bucket")
    by_stage = report.cases_by("stage")
    svgs = [
        svg_bar_chart(
            "Cases by bucket",
            [Bar(name, by_bucket.get(name, 0), str(by_bucket.get(name, 0))) for name in BUCKETS],
        ),
        svg_bar_chart(
            "Cases by stage", [Bar(stage, count, str(count)) for stage, count in by_stage.items()]
        ),
    ]
    for total in report.currencies:
        currency = total.currency
        outstanding = {
            name: sum(
                c.outstanding_minor
                for c in report.cells
                if c.currency == currency and c.bucket == name
            )
            for name in BUCKETS
        }
        svgs.append(
            svg_bar_chart(
                f"Outstanding by bucket, {currency}",
                [_money_bar(name, amount, currency) for name, amount in outstanding.items()],
            )
        )
        svgs.append(
            svg_bar_chart(
                f"Recovery, {currency}: {rate_text(total.recovery)} collected",
                [
                    _money_bar("overdue at opening", total.overdue_minor, currency),
                    _money_bar("collected", total.collected_minor, currency),
                    _money_bar("outstanding", total.outstanding_minor, currency),
                ],
            )
        )
    svgs.append(
        svg_bar_chart(
            "Roll rates",
            [
                Bar(
                    f"{roll.from_bucket} → {roll.to_bucket}",
                    roll.ratio.value,
                    _rate_label(roll.ratio),
                )
                for roll in report.roll_rates
            ],
            full_scale=1,
        )
    )
    svgs.append(
        svg_bar_chart(
            "Commitments",
            [
                Bar(
                    "promises kept", report.promises.ratio.value, _rate_label(report.promises.ratio)
                ),
                Bar("plans completed", report.plans.ratio.value, _rate_label(report.plans.ratio)),
            ],
            full_scale=1,
        )
    )
    return svgs


def _money_bar(label: str, amount_minor: int, currency: str) -> Bar:
    return Bar(label, amount_minor, format_money(amount_minor, currency))


def _rate_label(ratio: Ratio) -> str:
    return f"{rate_text(ratio)} ({ratio.numerator} of {ratio.denominator})"


PAGE_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 60rem; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25rem 0.75rem; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
svg { display: block; margin: 0.5rem 0; }
"""


def report_html(report: PortfolioReport) -> str:
    """A page that needs nothing but itself: inline CSS and SVG, no script, no fetch."""
    body = [
        f"<h1>Portfolio report as of {_h(as_of_text(report))}: {report.cases} case(s)</h1>",
        '<section class="charts">',
        *charts(report),
        "</section>",
    ]
    for title, rows in SECTIONS:
        body.append(f"<h2>{_h(title)}</h2>")
        body.append(_html_table(*rows(report)))
        if rows is portfolio_rows:
            body += [f"<p>{_h(note)}</p>" for note in notes(report)]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>Portfolio report as of {_h(report.as_of.label())}</title>\n"
        f"<style>{PAGE_STYLE}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


def _html_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_h(h)}</th>" for h in headers)
    lines = [f"<table><thead><tr>{head}</tr></thead><tbody>"]
    for row in rows:
        cells = "".join(
            f'<td class="n">{v}</td>' if isinstance(v, int) else f"<td>{_h(str(v))}</td>"
            for v in row
        )
        lines.append(f"<tr>{cells}</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)


def _h(text: str) -> str:
    return html.escape(text, quote=True)


# -- the command ---------------------------------------------------------------------------
def check_output(option: str, path: str | None) -> None:
    """Refuse a file that cannot be written before anything is read or written."""
    if path is None:
        return
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{option}: {path} is a directory")
    if not target.parent.is_dir():
        raise UsageError(f"{option}: the directory of {path} does not exist")


def write_output(option: str, path: str, text: str) -> None:
    try:
        Path(path).write_text(text, encoding="utf-8", newline="")
    except OSError as error:
        raise UsageError(f"{option}: cannot write {path}: {error.strerror or error}") from None


def run_report(
    *,
    as_of: str | None,
    as_json: bool,
    csv_path: str | None,
    html_path: str | None,
    database_url: str | None = None,
    now: datetime | None = None,
) -> str:
    """Build the report from the case database and write the files asked for; returns what
    goes to standard output (text, or JSON with `as_json`)."""
    moment = parse_as_of(as_of, now or datetime.now(UTC))
    check_output("--csv", csv_path)
    check_output("--html", html_path)
    store = open_case_database(database_url or settings.database_url())
    try:
        report = load_report(store, moment)
    except SQLAlchemyError as error:
        raise ReportError(f"cannot read the case database: {error}") from error
    finally:
        store.dispose()
    if csv_path is not None:
        write_output("--csv", csv_path, report_csv(report))
    if html_path is not None:
        write_output("--html", html_path, report_html(report))
    if as_json:
        return json.dumps(report_json(report), ensure_ascii=False, indent=2)
    return report_text(report)
