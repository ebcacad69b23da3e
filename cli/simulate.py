"""`starter.py simulate`: a portfolio under each policy given, with simulated borrowers, without a
Temporal server (`domain.simulation`).

The portfolio is a CSV of `starter.py import` (its `policy` column is ignored: every loan runs
under each `--policy`); each loan's borrower behaves as the behaviour file's table of the
loan's `segment` says (the demo's `behaviour` column when there is no segment, else `default`).
The run starts at 12:00 UTC of `--start`, when every timezone's date is that day or the next,
so `days_overdue` and due dates read the same on any day the command runs: the same arguments
give the same output, but for the seconds each run took.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
import tomllib
from datetime import UTC, date, datetime
from datetime import time as clock_time
from pathlib import Path

from cli.arguments import ClientFactory, CommandSet, positive_int
from cli.console import EXIT_OK, UsageError, err, out
from cli.csv_import import read_case_csv
from cli.report import check_output, write_output
from cli.simulation_formats import (
    PolicyRun,
    SimulationReport,
    simulation_html,
    simulation_json,
    simulation_text,
)
from domain.case import parse_case_input
from domain.errors import InvalidInput
from domain.simulation.behaviours import Behaviours, parse_behaviours
from domain.simulation.portfolio import Loan, PortfolioRun
from domain.simulation.results import policy_result
from domain.strategy_figures import UnitCosts
from policies import load_policy
from policies.unit_costs import UNIT_COSTS_FILE, load_unit_costs
from runtime import settings

BEHAVIOURS_FILE = settings.PROJECT_DIR / "data" / "behaviours.toml"
DEFAULT_DAYS = 180
# The first day of a run whose file gives no due date (only `days_overdue`): a fixed day, so
# the output does not change with the day the command runs.
FIXED_START = date(2026, 1, 5)
START_HOUR_UTC = clock_time(12, tzinfo=UTC)


def load_behaviours(path: Path) -> Behaviours:
    """The behaviour file; a mistake in it is refused naming the file and the key."""
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except OSError as error:
        raise InvalidInput(str(path), f"cannot read the behaviours: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise InvalidInput(str(path), f"not TOML: {error}") from None
    try:
        return parse_behaviours(data)
    except InvalidInput as error:
        raise InvalidInput(f"{path}: {error.field}", error.problem) from None


def first_day(path: Path, given: date | None) -> date:
    """The run's first day: `given`, else the latest due date the file names (so that no loan
    falls due after it), else FIXED_START."""
    if given is not None:
        return given
    latest = FIXED_START
    found = False
    try:
        with path.open(newline="", encoding="utf-8-sig", errors="replace") as file:
            for row in csv.DictReader(file):
                try:
                    due = date.fromisoformat((row.get("due_date") or "").strip())
                except ValueError:
                    continue  # no date, or a wrong one (the rows' own check names it)
                latest = due if not found else max(latest, due)
                found = True
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror or error}") from None
    return latest


def read_loans(path: Path, start: datetime, policy: str) -> list[Loan]:
    """Every row as a loan; any bad row refuses the whole file, naming its line and field."""
    batch = read_case_csv(path, now=start, policy=policy)
    if batch.errors:
        for error in batch.errors:
            err(error.describe())
        raise UsageError(f"{len(batch.errors)} invalid row(s) in {path}; nothing simulated")
    loans = []
    for row in batch.cases:
        case = parse_case_input(row.raw, now=start)
        loans.append(Loan(case, case.segment or row.behaviour or None))
    return loans


def run_simulation(
    path: Path,
    policies: list[str],
    *,
    behaviours_path: Path,
    days: int,
    seed: int,
    start_day: date | None,
    unit_costs: UnitCosts,
) -> SimulationReport:
    if len(set(policies)) != len(policies):
        raise UsageError("--policy: each policy once")
    chosen = [load_policy(name) for name in policies]
    behaviours = load_behaviours(behaviours_path)
    start = datetime.combine(first_day(path, start_day), START_HOUR_UTC)
    loans = read_loans(path, start, policies[0])
    runs = []
    for policy in chosen:
        began = time.perf_counter()
        run = PortfolioRun(loans, policy, behaviours, seed=seed, start=start, days=days)
        result = policy_result(
            policy.name,
            run.run(),
            start=start,
            days=days,
            unit_costs=unit_costs,
            refused=run.refused,
        )
        runs.append(PolicyRun(result, time.perf_counter() - began))
    return SimulationReport(
        portfolio=str(path),
        behaviours=_shown(behaviours_path),
        seed=seed,
        days=days,
        start=start,
        runs=tuple(runs),
    )


async def cmd_simulate(args: argparse.Namespace, connect: ClientFactory) -> int:
    check_output("--html", args.html)
    report = run_simulation(
        Path(args.portfolio),
        args.policy,
        behaviours_path=Path(args.behaviour or BEHAVIOURS_FILE),
        days=args.days,
        seed=args.seed,
        start_day=args.start,
        unit_costs=load_unit_costs(settings.unit_costs_path() or UNIT_COSTS_FILE),
    )
    if args.html is not None:
        write_output("--html", args.html, simulation_html(report))
        err(f"simulate: wrote the HTML page to {Path(args.html).resolve()}")
    out(
        json.dumps(simulation_json(report), ensure_ascii=False, indent=2)
        if args.json
        else simulation_text(report)
    )
    return EXIT_OK


def _shown(path: Path) -> str:
    """A path as the output names it: the project's own files relative to the project, so the
    output is the same wherever the project sits."""
    try:
        return str(path.resolve().relative_to(settings.PROJECT_DIR.resolve()))
    except ValueError:
        return str(path)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def _seed(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def register(commands: CommandSet) -> None:
    p = commands.add(
        "simulate",
        cmd_simulate,
        "Run a portfolio CSV under each policy with simulated borrowers (no server needed).",
    )
    p.epilog = (
        "Every loan runs under each --policy (the CSV's policy column is ignored) through the "
        "cases' own rules; borrowers answer as the behaviour file's segment says. The same "
        "arguments print the same output, but for the seconds. See docs/simulation.md."
    )
    p.add_argument("portfolio", metavar="PORTFOLIO.csv", help="a CSV as `import` reads it")
    p.add_argument(
        "--policy", action="append", required=True, help="a policy to run (repeat to compare)"
    )
    p.add_argument(
        "--behaviour",
        metavar="FILE",
        help="the simulated borrowers (default: data/behaviours.toml)",
    )
    p.add_argument("--days", type=positive_int, default=DEFAULT_DAYS, help="days to run (180)")
    p.add_argument("--seed", type=_seed, default=1, help="the seed of the borrowers' draws (1)")
    p.add_argument(
        "--start",
        type=_day,
        help="the first day, YYYY-MM-DD (default: the latest due date in the file, else "
        f"{FIXED_START.isoformat()})",
    )
    p.add_argument("--json", action="store_true", help="print JSON (the contract's shape)")
    p.add_argument("--html", metavar="PATH", help="also write a self-contained HTML page")
