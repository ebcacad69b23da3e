"""`starter.py report`: the portfolio report, read from the case database alone.

The figures are `domain.report`'s; `cli.report_reading` reads the rows they need,
`cli.report_formats` writes them as text, JSON or CSV (one table a spreadsheet loads as is)
and `cli.report_html` as a self-contained page with inline SVG charts. No Temporal server is
needed. With `--experiment NAME` it compares the experiment's two arms instead: the figures
are `domain.experiment_report`'s, read by `cli.experiment_reading`, written by
`cli.experiment_formats` and `cli.experiment_html`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Generic, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from activities.store import Store
from cli.arguments import ClientFactory, CommandSet
from cli.console import EXIT_ERROR, EXIT_OK, UsageError, err, out
from cli.experiment_formats import experiment_csv, experiment_json, experiment_text
from cli.experiment_html import experiment_html
from cli.experiment_reading import NoCases, load_experiment_report
from cli.report_formats import report_csv, report_json, report_text
from cli.report_html import report_html
from cli.report_reading import ReportError, load_report, open_case_database, parse_as_of
from domain.errors import InvalidInput
from domain.experiment_report import ExperimentReport
from policies.routing import load_routing
from policies.unit_costs import load_unit_costs
from runtime import settings

Report = TypeVar("Report")


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


@dataclass(frozen=True)
class Formats(Generic[Report]):
    """How one kind of report is written: as text, JSON, a CSV table and an HTML page."""

    text: Callable[[Report], str]
    json: Callable[[Report], object]
    csv: Callable[[Report], str]
    html: Callable[[Report], str]


PORTFOLIO = Formats(report_text, report_json, report_csv, report_html)
EXPERIMENT = Formats(experiment_text, experiment_json, experiment_csv, experiment_html)


def produce(
    read: Callable[[Store], Report],
    formats: Formats[Report],
    *,
    as_json: bool,
    csv_path: str | None,
    html_path: str | None,
    database_url: str | None,
) -> str:
    """Read a report from the case database and write the files asked for; returns what goes
    to standard output (text, or JSON with `as_json`). Both files are checked before anything
    is read, and nothing is written when the database cannot be read."""
    check_output("--csv", csv_path)
    check_output("--html", html_path)
    store = open_case_database(database_url or settings.database_url())
    try:
        report = read(store)
    except SQLAlchemyError as error:
        raise ReportError(f"cannot read the case database: {error}") from error
    finally:
        store.dispose()
    if csv_path is not None:
        write_output("--csv", csv_path, formats.csv(report))
    if html_path is not None:
        write_output("--html", html_path, formats.html(report))
    if as_json:
        return json.dumps(formats.json(report), ensure_ascii=False, indent=2)
    return formats.text(report)


def run_report(
    *,
    as_of: str | None,
    as_json: bool,
    csv_path: str | None,
    html_path: str | None,
    database_url: str | None = None,
    now: datetime | None = None,
) -> str:
    """The portfolio report from the case database (see `produce`)."""
    moment = parse_as_of(as_of, now or datetime.now(UTC))
    return produce(
        lambda store: load_report(store, moment),
        PORTFOLIO,
        as_json=as_json,
        csv_path=csv_path,
        html_path=html_path,
        database_url=database_url,
    )


def run_experiment_report(
    experiment: str,
    *,
    as_json: bool,
    csv_path: str | None,
    html_path: str | None,
    database_url: str | None = None,
    now: datetime | None = None,
) -> str:
    """The experiment's arms compared, from the case database (see `produce`)."""
    unit_costs = load_unit_costs(settings.unit_costs_path())
    moment = now or datetime.now(UTC)

    def read(store: Store) -> ExperimentReport:
        try:
            return load_experiment_report(store, experiment, unit_costs, moment)
        except NoCases as missing:
            raise UsageError(f"{missing} {routing_note(experiment)}") from None

    return produce(
        read,
        EXPERIMENT,
        as_json=as_json,
        csv_path=csv_path,
        html_path=html_path,
        database_url=database_url,
    )


def routing_note(experiment: str) -> str:
    """Whether the routing file knows an experiment that has no case: not yet begun, or
    unknown (a misspelt name)."""
    path = settings.routing_path()
    try:
        routing = load_routing(path)
    except InvalidInput as error:
        return f"and the routing file cannot say whether it is known: {error}"
    routed = [route.experiment.name for route in routing if route.experiment is not None]
    if experiment in routed:
        return f"the routing file {path} names it: no case has been routed to it yet"
    listed = ", ".join(routed) if routed else "none"
    return (
        f"unknown experiment: the routing file {path} names none of that name (it names: {listed})"
    )


async def cmd_report(args: argparse.Namespace, connect: ClientFactory) -> int:
    files = {"as_json": args.json, "csv_path": args.csv, "html_path": args.html}
    try:
        if args.experiment is None:
            text = run_report(as_of=args.as_of, **files)
        elif args.as_of is not None:
            # The case database keeps a case's latest status only: no arm as of a past day.
            raise UsageError("--as-of: not with --experiment (an experiment is reported as of now)")
        else:
            text = run_experiment_report(args.experiment, **files)
    except ReportError as error:
        err(f"report: {error}")
        return EXIT_ERROR
    out(text)
    # On stderr, so that `--json` output stays JSON.
    for what, path in (("the CSV table", args.csv), ("the HTML page", args.html)):
        if path is not None:
            err(f"report: wrote {what} to {Path(path).resolve()}")
    return EXIT_OK


def register(commands: CommandSet) -> None:
    p = commands.add(
        "report",
        cmd_report,
        "Portfolio report from the case database: stages, buckets, recovery, roll rates; "
        "or an experiment's arms compared.",
    )
    p.epilog = (
        "Reads only the case database (DATABASE_URL); no Temporal server is needed. Amounts "
        "are per currency. Days past due count in each borrower's timezone."
    )
    p.add_argument(
        "--as-of",
        metavar="YYYY-MM-DD",
        help="report as of the end of this day in each borrower's calendar, leaving out what "
        "was recorded later (default: now, everything recorded)",
    )
    p.add_argument(
        "--experiment",
        metavar="NAME",
        help="compare the champion and challenger arms of this experiment instead: recovery, "
        "cure and roll rates, contacts and their cost, with 95%% intervals and the p-value of "
        "the difference in recovery (unit costs: COLLECTIONS_UNIT_COSTS, default "
        "policies/unit_costs.toml)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--csv", metavar="PATH", help="also write the figures as one CSV table")
    p.add_argument("--html", metavar="PATH", help="also write a self-contained page of charts")
