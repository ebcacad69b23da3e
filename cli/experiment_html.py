"""An experiment's report as a self-contained HTML page: the portfolio report's page and bar
charts (`cli.report_html`), a chart per figure with a bar per arm."""

from __future__ import annotations

from collections.abc import Callable

from cli.experiment_formats import (
    METHODS,
    arm_heading,
    comparison_text,
    decimal,
    figure_rows,
    interval_text,
    per_unit,
    percent,
)
from cli.report_html import Bar, escaped, html_page, html_table, svg_bar_chart
from domain.channels import CHANNELS
from domain.estimates import Estimate
from domain.experiment_report import ExperimentReport
from domain.strategy_figures import ArmFigures


def experiment_charts(report: ExperimentReport) -> list[str]:
    """Rates on a scale of 0 to 100%, counts and costs on the scale of the larger arm."""

    def bars(
        estimate_of: Callable[[ArmFigures], Estimate], shown: Callable[[float], str]
    ) -> list[Bar]:
        return [
            Bar(
                arm.arm,
                estimate_of(arm.figures).value,
                interval_text(estimate_of(arm.figures), shown),
            )
            for arm in report.arms
        ]

    contact_bars = [
        Bar(
            f"{channel}, {arm.arm}",
            arm.figures.contacts_per_case_by_channel[channel].value,
            interval_text(arm.figures.contacts_per_case_by_channel[channel], decimal),
        )
        for channel in CHANNELS
        for arm in report.arms
    ]
    return [
        svg_bar_chart("Recovery rate", bars(lambda f: f.recovery_rate, percent), full_scale=1),
        svg_bar_chart("Cure rate", bars(lambda f: f.cure_rate.estimate, percent), full_scale=1),
        svg_bar_chart(
            "Roll rate M1→M2", bars(lambda f: f.roll_rate_m1_m2.estimate, percent), full_scale=1
        ),
        svg_bar_chart("Contacts per case", bars(lambda f: f.contacts_per_case, decimal)),
        svg_bar_chart("Contacts per case, by channel", contact_bars),
        svg_bar_chart(
            "Cost per unit collected", bars(lambda f: f.cost_per_unit_collected, per_unit)
        ),
    ]


def experiment_html(report: ExperimentReport) -> str:
    """A page that needs nothing but itself: inline CSS and SVG, no script, no fetch."""
    title = f"Experiment {report.experiment} as of {report.as_of.isoformat(timespec='seconds')}"
    headers = ("", *(arm_heading(arm) for arm in report.arms))
    body = [
        f"<h1>{escaped(title)}: {report.cases} case(s)</h1>",
        '<section class="charts">',
        *experiment_charts(report),
        "</section>",
        "<h2>Figures by arm (95% intervals in brackets)</h2>",
        html_table(headers, figure_rows(report)),
        *(f"<p>{escaped(line)}</p>" for line in comparison_text(report.comparison).splitlines()),
        f"<p>{escaped(METHODS)}</p>",
    ]
    return html_page(title, body)
