"""Cases from a CSV file: every row validated (line and field named), then opened."""

from __future__ import annotations

import argparse
import asyncio
import csv
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from temporalio.client import Client

from cli.arguments import ClientFactory, CommandSet
from cli.cases import OpenResult, open_case, validate_case
from cli.console import EXIT_BAD_INPUT, EXIT_ERROR, EXIT_OK, UsageError, err, out
from domain.debt import OPENING_COMPONENTS
from domain.errors import InvalidInput
from domain.fields import shown

CSV_REQUIRED_COLUMNS = ("loan_id", "borrower_id", "currency", "overdue_amount_minor")
INTEGER = re.compile(r"([+-]?)([0-9]+)")
# Digits past which a whole number is beyond every bound the checks apply (amounts stop at
# 2^53 - 1, 16 digits), and past which Python refuses to convert text to int at all (4,300).
NUMBER_DIGITS_MAX = 30
# How long a cell the reader takes (the csv module's default is 128 KiB, and a longer cell
# ended the import with a traceback). No accepted value comes near it (notes stop at 2,000
# characters): it only lets a row's own checks name the field that is too long. A cell
# longer still is reported for its row, without a field.
CELL_CHARS_MAX = 16 * 1024 * 1024
# A byte that is not UTF-8, as `surrogateescape` decodes it: no valid UTF-8 text holds one.
NOT_UTF8 = re.compile("[\udc80-\udcff]")
BORROWER_COLUMNS = ("borrower_id", "name", "phone", "email", "address", "timezone", "locale")
# Optional: the debt's parts at opening (the start input's `balance`), the loan's terms.
PART_COLUMNS = tuple(f"{component}_minor" for component in OPENING_COMPONENTS)
TERM_COLUMNS = ("penalty_rate_bps_per_day", "fees_authorized")
# How spreadsheets write a yes or a no; any other text goes to the case's check, which says so.
BOOLEAN_CELLS = {"true": True, "false": False, "yes": True, "no": False}


@dataclass(frozen=True)
class CsvCase:
    line: int
    loan_id: str
    raw: dict[str, Any]
    behaviour: str = ""


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    problem: str

    def describe(self) -> str:
        return f"line {self.line}: {self.field}: {self.problem}"


@dataclass
class CsvBatch:
    cases: list[CsvCase] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def _cell(row: Mapping[str | None, Any], column: str, *, field: str | None = None) -> str:
    """The cell of `column`, stripped; "" when the row has none. `field` is what errors name
    (the start input's field, where it differs from the column)."""
    value = row.get(column)
    if not isinstance(value, str):
        return ""
    if NOT_UTF8.search(value):
        raise InvalidInput(field or column, "is not UTF-8 text (save the file as UTF-8)")
    return value.strip()


def _whole_number(text: str) -> int | None:
    """`text` as an integer if it is one (ASCII digits, an optional sign), else None.

    A number of more digits than any bound allows stands as 10^NUMBER_DIGITS_MAX (with its
    sign): the checks refuse it just the same, naming their bound, and `int` never meets a
    string longer than it converts.
    """
    match = INTEGER.fullmatch(text)
    if match is None:
        return None
    sign, digits = match.groups()
    digits = digits.lstrip("0") or "0"
    magnitude = 10**NUMBER_DIGITS_MAX if len(digits) > NUMBER_DIGITS_MAX else int(digits)
    return -magnitude if sign == "-" else magnitude


def _due_date(row: Mapping[str | None, Any], now: datetime) -> str:
    """`due_date` as given, or today (borrower's timezone, else UTC) minus `days_overdue`."""
    due = _cell(row, "due_date")
    if due:
        return due
    text = _cell(row, "days_overdue")
    if not text:
        raise InvalidInput("due_date", "is required (or give days_overdue)")
    days = _whole_number(text)
    if days is None or days < 0:
        raise InvalidInput("days_overdue", "must be a whole number of days (0 or more)")
    timezone = _cell(row, "timezone", field="borrower.timezone")
    try:
        today = now.astimezone(ZoneInfo(timezone or "UTC")).date()
    except (ValueError, KeyError):
        raise InvalidInput(
            "borrower.timezone", f"unknown IANA timezone {shown(timezone)}"
        ) from None
    earliest = (today - date.min).days
    if days > earliest:
        raise InvalidInput(
            "days_overdue", f"must be at most {earliest} (a due date in year 1 or later)"
        )
    return (today - timedelta(days=days)).isoformat()


def _number(text: str) -> int | str | None:
    """A cell as a whole number; text that is not one goes to the case's check as it is,
    which says so; None for an empty cell."""
    number = _whole_number(text)
    return number if number is not None else text or None


def _table(
    row: Mapping[str | None, Any], key: str, columns: Sequence[str]
) -> dict[str, Any] | None:
    """The filled cells of `columns` as the start input's table `key` (None if none is)."""
    table: dict[str, Any] = {}
    for column in columns:
        text = _cell(row, column, field=f"{key}.{column}")
        if not text:
            continue
        if column == "fees_authorized":
            table[column] = BOOLEAN_CELLS.get(text.casefold(), text)
        else:
            table[column] = _number(text)
    return table or None


def case_from_row(
    row: Mapping[str | None, Any], *, now: datetime, policy: str | None = None
) -> dict[str, Any]:
    """A CSV row as the start input; `policy` (the --policy flag) overrides the column."""
    borrower = {
        column: _cell(row, column, field=f"borrower.{column}") for column in BORROWER_COLUMNS
    }
    raw: dict[str, Any] = {
        "loan_id": _cell(row, "loan_id"),
        "borrower": {k: v for k, v in borrower.items() if v},
        "currency": _cell(row, "currency"),
        "overdue_amount_minor": _number(_cell(row, "overdue_amount_minor")),
        "due_date": _due_date(row, now),
        "policy": policy or _cell(row, "policy"),
        "portfolio": _cell(row, "portfolio"),
        "segment": _cell(row, "segment"),
        # Parts that do not sum to the overdue amount are the case's to refuse, naming them.
        "balance": _table(row, "balance", PART_COLUMNS),
        "terms": _table(row, "terms", TERM_COLUMNS),
    }
    return {k: v for k, v in raw.items() if v not in ("", None)}


def _check_cell_count(row: Mapping[str | None, Any], header: Sequence[str]) -> None:
    """Refuse more filled cells than the header has columns: a value with an unquoted comma,
    most likely, which puts every cell after it in the wrong column. (Empty extra cells, as
    some spreadsheets write, are harmless.)"""
    extra = row.get(None)
    if isinstance(extra, list) and any(str(cell).strip() for cell in extra):
        raise InvalidInput(
            "row",
            f"{len(header) + len(extra)} cells, but the header has {len(header)} columns "
            "(put a value that holds a comma in double quotes)",
        )


def parse_case_csv(
    lines: Iterable[str],
    *,
    now: datetime,
    policy: str | None = None,
    behaviours: Sequence[str] | None = None,
) -> CsvBatch:
    """Read and validate every row; each bad row is reported with its line and field.

    With `behaviours` (the demo), the `behaviour` column must be one of them (empty means
    `never_pays`).
    """
    batch = CsvBatch()
    _allow_long_cells()
    reader = csv.DictReader(lines)
    try:
        header = reader.fieldnames or []
    except csv.Error as error:
        batch.errors.append(RowError(1, "header", f"cannot be read as CSV: {error}"))
        return batch
    missing = [column for column in CSV_REQUIRED_COLUMNS if column not in header]
    if "due_date" not in header and "days_overdue" not in header:
        missing.append("due_date")
    if missing:
        for column in missing:
            batch.errors.append(RowError(1, column, "column is missing from the header"))
        return batch
    seen: dict[str, int] = {}
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            # The line it stopped on: the DictReader's own count moves only with a row read.
            line = reader.reader.line_num
            batch.errors.append(RowError(line, "row", f"cannot be read: {error}"))
            continue  # the reader goes on with the next line
        line = reader.line_num
        if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
            continue  # a blank line
        try:
            _check_cell_count(row, header)
            raw = case_from_row(row, now=now, policy=policy)
            case, _ = validate_case(raw, now=now)
            behaviour = _cell(row, "behaviour")
            if behaviours is not None:
                behaviour = behaviour or "never_pays"
                if behaviour not in behaviours:
                    raise InvalidInput("behaviour", f"must be one of {', '.join(behaviours)}")
            if case.loan_id in seen:
                raise InvalidInput("loan_id", f"{case.loan_id} repeats line {seen[case.loan_id]}")
        except InvalidInput as error:
            batch.errors.append(RowError(line, error.field, error.problem))
            continue
        seen[case.loan_id] = line
        batch.cases.append(CsvCase(line, case.loan_id, raw, behaviour))
    return batch


def _allow_long_cells() -> None:
    # Process-wide, and only ever raised: a reader elsewhere can but take longer cells.
    if csv.field_size_limit() < CELL_CHARS_MAX:
        csv.field_size_limit(CELL_CHARS_MAX)


def read_case_csv(
    path: Path,
    *,
    now: datetime,
    policy: str | None = None,
    behaviours: Sequence[str] | None = None,
) -> CsvBatch:
    try:
        # A byte that is not UTF-8 is kept (as a lone surrogate) for its row to be reported
        # with its line and column, rather than ending the whole read.
        with path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as file:
            return parse_case_csv(file, now=now, policy=policy, behaviours=behaviours)
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror or error}") from None


@dataclass
class ImportSummary:
    opened: list[str] = field(default_factory=list)
    already_open: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    invalid: list[RowError] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def describe(self) -> str:
        text = (
            f"opened {len(self.opened)}, already open {len(self.already_open)}, "
            f"closed {len(self.closed)}, invalid {len(self.invalid)}"
        )
        if self.failed:
            text += f", failed {len(self.failed)}"
        return text


async def import_cases(
    client: Client, cases: Sequence[CsvCase], *, now: datetime, concurrency: int = 16
) -> ImportSummary:
    """Open every case (idempotent: an open case is kept, a closed one is reported)."""
    summary = ImportSummary()
    gate = asyncio.Semaphore(concurrency)

    async def one(item: CsvCase) -> tuple[CsvCase, OpenResult | BaseException]:
        async with gate:
            try:
                return item, await open_case(client, item.raw, now=now)
            except Exception as error:
                return item, error

    for item, result in await asyncio.gather(*(one(item) for item in cases)):
        if isinstance(result, OpenResult):
            out(result.describe())
            {
                "opened": summary.opened,
                "already_open": summary.already_open,
                "closed": summary.closed,
            }[result.outcome].append(item.loan_id)
        elif isinstance(result, InvalidInput):
            summary.invalid.append(RowError(item.line, result.field, result.problem))
            err(f"line {item.line}: {result.field}: {result.problem}")
        else:
            summary.failed.append(item.loan_id)
            err(f"{item.loan_id}: could not open: {type(result).__name__}: {result}")
    return summary


async def cmd_import(args: argparse.Namespace, connect: ClientFactory) -> int:
    now = datetime.now(UTC)
    batch = read_case_csv(Path(args.file), now=now, policy=args.policy)
    for error in batch.errors:
        err(error.describe())
    if batch.errors and not args.skip_invalid:
        err(
            f"{len(batch.errors)} invalid row(s); nothing imported "
            "(fix them, or pass --skip-invalid to import the valid rows)"
        )
        return EXIT_BAD_INPUT
    summary = await import_cases(await connect(), batch.cases, now=now)
    summary.invalid = batch.errors + summary.invalid
    out(summary.describe())
    return EXIT_ERROR if summary.failed else EXIT_OK


def register(commands: CommandSet) -> None:
    p = commands.add("import", cmd_import, "Open a case for every row of a CSV file (idempotent).")
    p.add_argument("file", metavar="FILE.csv")
    p.add_argument("--policy", help="use this policy for every row (overrides the column)")
    p.add_argument(
        "--skip-invalid", action="store_true", help="import the valid rows even if some are not"
    )
