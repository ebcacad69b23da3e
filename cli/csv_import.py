"""Cases from a CSV file: every row validated (line and field named), then opened."""

from __future__ import annotations

import asyncio
import csv
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from temporalio.client import Client

from cli.cases import OpenResult, open_case, validate_case
from cli.console import UsageError, err, out
from domain.errors import InvalidInput

CSV_REQUIRED_COLUMNS = ("loan_id", "borrower_id", "currency", "overdue_amount_minor")
INTEGER = re.compile(r"[+-]?[0-9]+")


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


def _cell(row: Mapping[str, str | None], column: str) -> str:
    value = row.get(column)
    return value.strip() if isinstance(value, str) else ""


def _due_date(row: Mapping[str, str | None], now: datetime) -> str:
    """`due_date` as given, or today (borrower's timezone, else UTC) minus `days_overdue`."""
    due = _cell(row, "due_date")
    if due:
        return due
    days = _cell(row, "days_overdue")
    if not days:
        raise InvalidInput("due_date", "is required (or give days_overdue)")
    if not days.isdigit():
        raise InvalidInput("days_overdue", "must be a whole number of days (0 or more)")
    timezone = _cell(row, "timezone")
    try:
        today = now.astimezone(ZoneInfo(timezone or "UTC")).date()
    except (ValueError, KeyError):
        raise InvalidInput("borrower.timezone", f"unknown IANA timezone {timezone!r}") from None
    return (today - timedelta(days=int(days))).isoformat()


def case_from_row(
    row: Mapping[str, str | None], *, now: datetime, policy: str | None = None
) -> dict[str, Any]:
    """A CSV row as the start input; `policy` (the --policy flag) overrides the column."""
    amount_text = _cell(row, "overdue_amount_minor")
    amount: Any = int(amount_text) if INTEGER.fullmatch(amount_text) else amount_text or None
    borrower = {
        "borrower_id": _cell(row, "borrower_id"),
        "name": _cell(row, "name"),
        "phone": _cell(row, "phone"),
        "email": _cell(row, "email"),
        "address": _cell(row, "address"),
        "timezone": _cell(row, "timezone"),
        "locale": _cell(row, "locale"),
    }
    raw: dict[str, Any] = {
        "loan_id": _cell(row, "loan_id"),
        "borrower": {k: v for k, v in borrower.items() if v},
        "currency": _cell(row, "currency"),
        "overdue_amount_minor": amount,
        "due_date": _due_date(row, now),
        "policy": policy or _cell(row, "policy"),
        "portfolio": _cell(row, "portfolio"),
    }
    return {k: v for k, v in raw.items() if v not in ("", None)}


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
    reader = csv.DictReader(lines)
    header = reader.fieldnames or []
    missing = [column for column in CSV_REQUIRED_COLUMNS if column not in header]
    if "due_date" not in header and "days_overdue" not in header:
        missing.append("due_date")
    if missing:
        for column in missing:
            batch.errors.append(RowError(1, column, "column is missing from the header"))
        return batch
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
            continue  # a blank line
        try:
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


def read_case_csv(
    path: Path,
    *,
    now: datetime,
    policy: str | None = None,
    behaviours: Sequence[str] | None = None,
) -> CsvBatch:
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            return parse_case_csv(file, now=now, policy=policy, behaviours=behaviours)
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None


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
