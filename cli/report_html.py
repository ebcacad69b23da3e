"""The portfolio report as a self-contained HTML page: inline CSS and SVG charts, no script."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from cli.report_formats import (
    SECTIONS,
    as_of_text,
    notes,
    portfolio_rows,
    rate_text,
)
from domain.clock import BUCKETS
from domain.debt import COMPONENTS, Parts
from domain.money import format_money
from domain.report import CurrencySummary, PortfolioReport, Ratio


@dataclass(frozen=True)
class Bar:
    label: str
    # A count, an amount or a rate (an estimate's float); None: nothing to show.
    value: Fraction | int | float | None
    text: str


CHART_WIDTH = 640
LABEL_WIDTH = 150
BAR_AREA = 340
BAR_HEIGHT = 20
BAR_GAP = 8
TOP = 34
BAR_COLOUR = "#3a6ea5"


def svg_bar_chart(
    title: str, bars: Sequence[Bar], *, full_scale: Fraction | int | float | None = None
) -> str:
    """A horizontal bar chart as inline SVG; a bar without a value (no rate) shows "—"."""
    values = [bar.value for bar in bars if bar.value is not None]
    scale = full_scale if full_scale is not None else max(values, default=0)
    height = TOP + len(bars) * (BAR_HEIGHT + BAR_GAP) + 4
    shapes = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH}" height="{height}" '
        f'viewBox="0 0 {CHART_WIDTH} {height}" role="img" aria-label="{escaped(title)}" '
        'font-family="system-ui, sans-serif" font-size="13">',
        f"<title>{escaped(title)}</title>",
        f'<text x="0" y="18" font-size="14" font-weight="bold">{escaped(title)}</text>',
    ]
    for index, bar in enumerate(bars):
        y = TOP + index * (BAR_HEIGHT + BAR_GAP)
        width = 0.0
        if bar.value is not None and scale:
            width = round(BAR_AREA * float(Fraction(bar.value) / Fraction(scale)), 1)
        middle = y + BAR_HEIGHT / 2 + 4
        shapes += [
            f'<text x="{LABEL_WIDTH - 8}" y="{middle}" text-anchor="end">'
            f"{escaped(bar.label)}</text>",
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{width}" height="{BAR_HEIGHT}" '
            f'fill="{BAR_COLOUR}"/>',
            f'<text x="{LABEL_WIDTH + width + 6}" y="{middle}">{escaped(bar.text)}</text>',
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
        svgs += _currency_charts(report, total)
    return svgs + _rate_charts(report)


def _currency_charts(report: PortfolioReport, total: CurrencySummary) -> list[str]:
    """Outstanding by bucket, recovery, and the figures by part, of one currency."""
    currency = total.currency
    outstanding = {
        name: sum(
            c.outstanding_minor for c in report.cells if c.currency == currency and c.bucket == name
        )
        for name in BUCKETS
    }
    return [
        svg_bar_chart(
            f"Outstanding by bucket, {currency}",
            [_money_bar(name, amount, currency) for name, amount in outstanding.items()],
        ),
        svg_bar_chart(
            f"Recovery, {currency}: {rate_text(total.recovery)} collected",
            [
                _money_bar("overdue at opening", total.overdue_minor, currency),
                _money_bar("collected", total.collected_minor, currency),
                _money_bar("outstanding", total.outstanding_minor, currency),
            ],
        ),
        *_part_charts(total),
    ]


def _part_charts(total: CurrencySummary) -> list[str]:
    """Collected by part, and charged off by part where cases were written off."""
    currency, parts = total.currency, total.parts

    def bars(figure: Parts) -> list[Bar]:
        return [_money_bar(c, figure.of(c), currency) for c in COMPONENTS]

    charts = [svg_bar_chart(f"Collected by part, {currency}", bars(parts.collected))]
    if parts.written_off_cases:
        recovered = format_money(parts.recovered.total_minor, currency)
        title = f"Charged off by part, {currency}: {recovered} recovered since"
        charts.append(svg_bar_chart(title, bars(parts.charged_off)))
    return charts


def _rate_charts(report: PortfolioReport) -> list[str]:
    rolls = [
        Bar(f"{roll.from_bucket} → {roll.to_bucket}", roll.ratio.value, _rate_label(roll.ratio))
        for roll in report.roll_rates
    ]
    commitments = [
        Bar("promises kept", report.promises.ratio.value, _rate_label(report.promises.ratio)),
        Bar("plans completed", report.plans.ratio.value, _rate_label(report.plans.ratio)),
    ]
    return [
        svg_bar_chart("Roll rates", rolls, full_scale=1),
        svg_bar_chart("Commitments", commitments, full_scale=1),
    ]


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
        f"<h1>Portfolio report as of {escaped(as_of_text(report))}: {report.cases} case(s)</h1>",
        '<section class="charts">',
        *charts(report),
        "</section>",
    ]
    for title, rows in SECTIONS:
        body.append(f"<h2>{escaped(title)}</h2>")
        body.append(html_table(*rows(report)))
        if rows is portfolio_rows:
            body += [f"<p>{escaped(note)}</p>" for note in notes(report)]
    return html_page(f"Portfolio report as of {report.as_of.label()}", body)


def html_page(title: str, body: Sequence[str]) -> str:
    """A report's page around `body` (HTML already escaped): inline CSS, no script."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escaped(title)}</title>\n"
        f"<style>{PAGE_STYLE}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


def html_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{escaped(h)}</th>" for h in headers)
    lines = [f"<table><thead><tr>{head}</tr></thead><tbody>"]
    for row in rows:
        cells = "".join(
            f'<td class="n">{v}</td>' if isinstance(v, int) else f"<td>{escaped(str(v))}</td>"
            for v in row
        )
        lines.append(f"<tr>{cells}</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)


def escaped(text: str) -> str:
    return html.escape(text, quote=True)
