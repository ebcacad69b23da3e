"""The figures of one `make bench` run as Markdown tables, each figure beside its target.

    .venv/bin/python scripts/bench/bench_table.py bench.json

What docs/benchmarks.md and the README carry is this script's output, so that no figure is
copied by hand.
"""

from __future__ import annotations

import json
import sys
from typing import Any

Row = tuple[str, str, str]
NOT_MET = " **(not met)**"
QUANTILES = ("p10", "p50", "p90")


def number(value: float | None, unit: str = "", digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}{unit}"


def verdict(met: bool | None, target: str) -> str:
    if met is None:
        return f"{target}: not measured"
    return target if met else f"{target}: **not met**"


def marked(value: str, met: bool | None) -> str:
    """A run's figure, marked where it misses its target (the target is the row's)."""
    return value + NOT_MET if met is False else value


def cpu_per_case(figures: dict[str, float | None] | None) -> str:
    """CPU ms per case of the server and the worker (and the benchmark, where measured)."""
    if not figures:
        return "—"
    return " + ".join(f"{number(ms)} {role}" for role, ms in figures.items()) + " ms"


def cpu_rows(run: dict[str, Any]) -> list[Row]:
    """Whose CPU each case took (runs before the figure was measured have none)."""
    cpu = run.get("cpu_ms_per_case", {})
    return [
        (
            "CPU per one-activity workflow (its worker in the benchmark)",
            cpu_per_case(cpu.get("ceiling")),
            "",
        ),
        ("CPU per `demo` case until its first contact", cpu_per_case(cpu.get("intake_demo")), ""),
    ]


def run_rows(run: dict[str, Any]) -> list[Row]:
    return [*intake_rows(run), *latency_rows(run)]


def intake_rows(run: dict[str, Any]) -> list[Row]:
    met = run["targets_met"]
    return [
        (
            "server ceiling: one-activity workflows",
            number(run["ceiling_workflows_per_s"], " /s"),
            "",
        ),
        (
            "intake to first contact, `demo` cases",
            marked(
                f"{number(run['intake_to_first_contact_cases_per_s'], ' /s')} = "
                f"{number(run['ratio_to_ceiling'], digits=2)} of the ceiling",
                met["ratio_to_ceiling"],
            ),
            "≥ 0.5",
        ),
        (
            "first contacts of the `demo` cases, seconds after the first start: p10 / p50 / p90",
            " / ".join(
                number(run.get("first_contact_s", {}).get("demo", {}).get(q), digits=1)
                for q in QUANTILES
            ),
            "",
        ),
        *cpu_rows(run),
        (
            "intake to first contact, an import of `default` cases",
            f"{number(run['intake_import_cases_per_s'], ' /s')} = "
            f"{number(run['import_ratio_to_ceiling'], digits=2)}",
            "",
        ),
    ]


def latency_rows(run: dict[str, Any]) -> list[Row]:
    met = run["targets_met"]
    payment, during = run["record_payment_ms"], run["record_payment_during_demo_ms"]
    saturated, lateness = run["record_payment_saturated_ms"], run["timer_lateness_ms_demo"]
    late_p50, late_p99 = lateness["p50"], run["timer_lateness_ms_p99_demo"]
    return [
        (
            "`record_payment`, quiet open cases, paced: p50 / p99",
            marked(
                f"{number(payment['p50'])} / {number(payment['p99'])} ms",
                met["record_payment_ms_p99"],
            ),
            "p99 ≤ 150 ms",
        ),
        (
            "`record_payment` saturated (20 in flight): p50 / p99, rate",
            f"{number(saturated['p50'], digits=0)} / {number(saturated['p99'], digits=0)} ms, "
            f"{number(saturated['per_s'], ' /s')}",
            "",
        ),
        (
            "`record_payment` while the demo cases race: p50 / p99",
            f"{number(during['p50'], digits=0)} / {number(during['p99'], digits=0)} ms",
            "",
        ),
        (
            "timer lateness, demo cases: p50 / p99 (over 1 s)",
            marked(
                f"{number(late_p50, digits=0)} / {number(late_p99, digits=0)} ms"
                f" ({lateness['over_1s']} of {run['samples']['demo']['timers']})",
                met["timer_lateness_ms_p99_demo"],
            ),
            "p99 ≤ 1 s",
        ),
        (
            "activity schedule-to-start, demo cases, p99",
            number(run["activity_schedule_to_start_ms_p99_demo"], " ms", 0),
            "",
        ),
    ]


def runs_table(report: dict[str, Any]) -> str:
    runs = report["runs"]
    head = ["figure", *(f"{r['server']}, {r['worker']['processes']} proc." for r in runs)]
    lines = [f"| {' | '.join(head)} | target |", f"|{'---|' * (len(head) + 1)}"]
    columns = [run_rows(run) for run in runs]
    for index, (name, _, _) in enumerate(columns[0]):
        values = [column[index][1] for column in columns]
        targets = {column[index][2] for column in columns if column[index][2]}
        lines.append(f"| {name} | {' | '.join(values)} | {'; '.join(sorted(targets))} |")
    return "\n".join(lines)


def figure_table(rows: list[Row]) -> str:
    """One figure a row: its name, its value and its target."""
    lines = ["| figure | value | target |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {target} |" for name, value, target in rows]
    return "\n".join(lines)


def open_cases_table(report: dict[str, Any]) -> str:
    scenario = report.get("open_cases")
    if scenario is None:
        return "(BENCH_OPEN_CASES=0: not run)"
    met, payment, lateness = (
        scenario["targets_met"],
        scenario["record_payment_ms"],
        scenario["timer_lateness_ms"],
    )
    rows = [
        (
            f"open `default` cases asleep ({scenario['server']} server, "
            f"{scenario['worker']['processes']} worker processes)",
            f"{scenario['open_cases']:,}, opened at "
            f"{number(scenario['opening_cases_per_s'], ' /s')}",
            "",
        ),
        (
            "timer lateness of the stream's cases: p50 / p99 (over 1 s)",
            f"{number(lateness['p50'], digits=0)} / {number(lateness['p99'], digits=0)} ms "
            f"({lateness['over_1s']} of {lateness['timers']})",
            verdict(met["timer_lateness_ms_p99"], "p99 ≤ 1 s"),
        ),
        (
            "`record_payment` to open cases: p50 / p99",
            f"{number(payment['p50'])} / {number(payment['p99'])} ms",
            verdict(met["record_payment_ms_p99"], "p99 ≤ 150 ms"),
        ),
    ]
    return figure_table(rows)


def ladder_table(report: dict[str, Any]) -> str:
    met = report["targets_met"]
    rows = [
        (
            "full `default` ladder unpaid to write-off (+ a year of recovery)",
            f"{report['default_ladder_events']} events",
            verdict(met["default_ladder_events"], "≤ 250"),
        ),
        (
            "paid after the first SMS (+ 30 days' linger)",
            f"{report['paid_after_first_sms_events']} events",
            verdict(met["paid_after_first_sms_events"], "≤ 60"),
        ),
    ]
    return figure_table(rows)


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as file:
        report = json.load(file)
    machine = report["machine"]
    print(
        f"{report['cases']:,} cases; {machine['cores']} cores, Python {machine['python']}, "
        f"temporalio {machine['temporalio']}, Temporal CLI {machine['temporal_cli']}\n"
    )
    print(runs_table(report), end="\n\n")
    print(open_cases_table(report), end="\n\n")
    print(ladder_table(report))


if __name__ == "__main__":
    main()
