"""A simulation's results (`starter.py simulate`) as JSON, text and a self-contained HTML page.

Each policy's figures are the live experiment report's (`cli.experiment_formats`): the same
JSON per policy, the same table with a column per policy, and each policy after the first
compared with the first. Beside them: the recovery curve (the share of what was owed that was
collected by the end of each day) and how long the run took. Everything but the seconds is a
function of the arguments, so the same arguments print the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cli.experiment_formats import (
    METHODS,
    arm_json,
    arms_figure_rows,
    comparison_json,
    comparison_text,
    decimal,
    interval_text,
    per_unit,
    percent,
)
from cli.render import table
from cli.report_formats import NO_RATE
from cli.report_html import Bar, escaped, html_page, html_table, svg_bar_chart
from domain.estimates import Estimate
from domain.simulation.results import PolicyResult
from domain.strategy_figures import ArmFigures, Comparison, compare

# The days the text and the page show of each recovery curve (and the run's last day).
CURVE_DAYS = (1, 7, 14, 30, 60, 90, 120, 150, 180, 270, 365)
CURVE_WIDTH, CURVE_HEIGHT, CURVE_LEFT, CURVE_TOP = 640, 260, 50, 30
LINE_COLOURS = ("#3a6ea5", "#c0504d", "#4f8a3c", "#8064a2", "#d08a2c", "#3c9aa8")


@dataclass(frozen=True)
class PolicyRun:
    """One policy's result and the seconds the run took."""

    result: PolicyResult
    seconds: float


@dataclass(frozen=True)
class SimulationReport:
    portfolio: str
    behaviours: str
    seed: int
    days: int
    start: datetime
    runs: tuple[PolicyRun, ...]

    @property
    def loans(self) -> int:
        return self.runs[0].result.figures.cases if self.runs else 0

    def comparisons(self) -> list[tuple[str, Comparison]]:
        """Each policy after the first against the first (the champion)."""
        champion = self.runs[0].result.figures
        return [(run.result.policy, compare(champion, run.result.figures)) for run in self.runs[1:]]


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def simulation_json(report: SimulationReport) -> dict[str, Any]:
    return {
        "seed": report.seed,
        "days": report.days,
        "start": report.start.isoformat(),
        "policies": {
            run.result.policy: {
                **arm_json(run.result.figures),
                "seconds": round(run.seconds, 3),
                "recovery_curve": [_rounded(share) for share in run.result.curve],
                "refused_messages": run.result.refused,
            }
            for run in report.runs
        },
        "comparisons": {name: comparison_json(found) for name, found in report.comparisons()},
    }


def _curve_days(days: int) -> list[int]:
    return sorted({day for day in CURVE_DAYS if day < days} | {days})


def _share(curve: Sequence[float | None], day: int) -> str:
    share = curve[day - 1] if day <= len(curve) else None
    return NO_RATE if share is None else percent(share)


def curve_rows(report: SimulationReport) -> list[tuple[str, ...]]:
    return [
        (f"day {day}", *(_share(run.result.curve, day) for run in report.runs))
        for day in _curve_days(report.days)
    ]


def _versus(comparison: Comparison, name: str, report: SimulationReport) -> str:
    """The comparison of policy `name` with the first, in the experiment report's words."""
    champion = report.runs[0].result.policy
    return comparison_text(comparison).replace("challenger − champion", f"{name} − {champion}")


def heading(report: SimulationReport) -> str:
    return (
        f"Simulation of {report.loans} loan(s) of {report.portfolio} for {report.days} days from "
        f"{report.start.isoformat(timespec='minutes')}, seed {report.seed}, behaviours "
        f"{report.behaviours}"
    )


def timing_text(report: SimulationReport) -> str:
    runs = ", ".join(f"{run.result.policy} {run.seconds:.2f} s" for run in report.runs)
    refused = sum(run.result.refused for run in report.runs)
    return f"Simulated in {runs}; messages the cases refused: {refused}."


def simulation_text(report: SimulationReport) -> str:
    headers = ("", *(run.result.policy for run in report.runs))
    figures = [run.result.figures for run in report.runs]
    lines = [heading(report), "", table(headers, arms_figure_rows(figures)), ""]
    lines += ["Recovery curve (collected / owed by the end of the day):"]
    lines += [table(headers, curve_rows(report)), ""]
    for name, comparison in report.comparisons():
        lines.append(_versus(comparison, name, report))
    return "\n".join([*lines, METHODS, timing_text(report)])


# -- the page ------------------------------------------------------------------------------
def svg_curves(report: SimulationReport) -> str:
    """The recovery curves as lines over the days, on the scale of the highest."""
    top = max((share or 0.0 for run in report.runs for share in run.result.curve), default=0.0)
    scale = top or 1.0
    width = CURVE_WIDTH - CURVE_LEFT - 10
    height = CURVE_HEIGHT - CURVE_TOP - 30
    title = "Recovery curve: collected / owed by the end of each day"
    shapes = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CURVE_WIDTH}" height="{CURVE_HEIGHT}" '
        f'viewBox="0 0 {CURVE_WIDTH} {CURVE_HEIGHT}" role="img" aria-label="{escaped(title)}" '
        'font-family="system-ui, sans-serif" font-size="13">',
        f"<title>{escaped(title)}</title>",
        f'<text x="0" y="18" font-size="14" font-weight="bold">{escaped(title)}</text>',
        f'<text x="0" y="{CURVE_TOP + 10}">{percent(top)}</text>',
        f'<text x="0" y="{CURVE_TOP + height}">0%</text>',
        f'<text x="{CURVE_LEFT}" y="{CURVE_HEIGHT - 8}">day 1</text>',
        f'<text x="{CURVE_LEFT + width}" y="{CURVE_HEIGHT - 8}" text-anchor="end">'
        f"day {report.days}</text>",
    ]
    for index, run in enumerate(report.runs):
        curve = run.result.curve
        points = " ".join(
            f"{CURVE_LEFT + round(width * day / max(1, len(curve) - 1), 1)},"
            f"{CURVE_TOP + round(height * (1 - (share or 0.0) / scale), 1)}"
            for day, share in enumerate(curve)
        )
        colour = LINE_COLOURS[index % len(LINE_COLOURS)]
        shapes += [
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>',
            f'<text x="{CURVE_LEFT + 10}" y="{CURVE_TOP + 16 * (index + 1)}" fill="{colour}">'
            f"{escaped(run.result.policy)}</text>",
        ]
    shapes.append("</svg>")
    return "\n".join(shapes)


def _bars(
    report: SimulationReport,
    shown: Callable[[float], str],
    estimate_of: Callable[[ArmFigures], Estimate],
) -> list[Bar]:
    """A bar per policy: the figure `estimate_of` reads, with its interval."""
    bars = []
    for run in report.runs:
        estimate = estimate_of(run.result.figures)
        bars.append(Bar(run.result.policy, estimate.value, interval_text(estimate, shown)))
    return bars


def simulation_charts(report: SimulationReport) -> list[str]:
    def rate(estimate_of: Callable[[ArmFigures], Estimate]) -> list[Bar]:
        return _bars(report, percent, estimate_of)

    return [
        svg_curves(report),
        svg_bar_chart("Recovery rate", rate(lambda f: f.recovery_rate), full_scale=1),
        svg_bar_chart("Cure rate", rate(lambda f: f.cure_rate.estimate), full_scale=1),
        svg_bar_chart("Roll rate M1→M2", rate(lambda f: f.roll_rate_m1_m2.estimate), full_scale=1),
        svg_bar_chart("Contacts per case", _bars(report, decimal, lambda f: f.contacts_per_case)),
        svg_bar_chart(
            "Cost per unit collected",
            _bars(report, per_unit, lambda f: f.cost_per_unit_collected),
        ),
    ]


def simulation_html(report: SimulationReport) -> str:
    """A page that needs nothing but itself: inline CSS and SVG, no script, no fetch."""
    headers = ("", *(run.result.policy for run in report.runs))
    figures = [run.result.figures for run in report.runs]
    body = [
        f"<h1>{escaped(heading(report))}</h1>",
        '<section class="charts">',
        *simulation_charts(report),
        "</section>",
        "<h2>Figures by policy (95% intervals in brackets)</h2>",
        html_table(headers, arms_figure_rows(figures)),
        "<h2>Recovery curve</h2>",
        html_table(headers, curve_rows(report)),
    ]
    for name, comparison in report.comparisons():
        text = _versus(comparison, name, report)
        body += [f"<p>{escaped(line)}</p>" for line in text.splitlines()]
    body += [f"<p>{escaped(METHODS)}</p>", f"<p>{escaped(timing_text(report))}</p>"]
    return html_page(heading(report), body)
