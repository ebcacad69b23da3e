"""The command line as a new user meets it: currencies, help figures, the list's days past due,
amounts as people write them, a closed pipe. (Where the report's page went:
tests/activities/test_report_files.py; what the Temporal UI shows of a case it started:
tests/workflow/test_case_summary.py.)"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode

from cli import commitments, main
from cli.listing import case_days_past_due, case_opening
from cli.updates import amounts_text
from domain.commitments import CommitmentRules
from domain.errors import InvalidInput
from domain.money import MINOR_UNIT_DIGITS, format_money, parse_currency, plain_amount
from policies import load_policy
from tests.helpers.cli import refuse_connect
from tests.helpers.paths import PROJECT_DIR

NOW = datetime(2026, 3, 13, 4, 0, tzinfo=UTC)


def test_currencies_are_iso_4217_codes_with_their_minor_unit() -> None:
    assert (MINOR_UNIT_DIGITS["JPY"], MINOR_UNIT_DIGITS["KWD"], MINOR_UNIT_DIGITS["CNY"]) == (
        0,
        3,
        2,
    )
    assert format_money(123456, "JPY") == "JPY 123,456"
    assert format_money(1234567, "KWD") == "KWD 1,234.567"
    assert plain_amount(-1234567, "KWD") == "-1234.567"
    assert parse_currency("USD") == "USD"
    # Three capital letters are not enough; nor is a fund or a metal (no minor unit).
    for code in ("XYZ", "XAU", "cny", ""):
        with pytest.raises(InvalidInput) as error:
            parse_currency(code)
        assert error.value.field == "currency"


def test_open_refuses_a_made_up_currency(capsys: Any) -> None:
    args = ["open", "--loan-id", "L-1", "--borrower-id", "B-1", "--currency", "XYZ"]
    args += ["--amount-minor", "100", "--due-date", "2026-01-05"]
    assert asyncio.run(main.run(args, connect=refuse_connect)) == 2
    assert "invalid case: currency: must be an ISO 4217 currency code" in capsys.readouterr().err


def test_help_quotes_the_default_policys_figures(capsys: Any) -> None:
    rules = load_policy("default").commitments
    with pytest.raises(SystemExit):
        main.build_parser().parse_args(["plan", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"at most {rules.plan_max_installments} installments" in text
    assert f"the first within {rules.plan_first_within_days} days" in text
    # The figures come from the rules given, not from the help's own text.
    other = CommitmentRules(promise_max_days=9, max_broken_promises=2, plan_max_installments=5)
    assert "at most 5 installments" in commitments.plan_rules("strict", other)
    promise = commitments.promise_rules("strict", other)
    assert "strict, " in promise and "9 days ahead" in promise and "after 2 broken" in promise


def test_the_list_shows_a_fast_clock_cases_own_days_past_due() -> None:
    due = datetime(2026, 3, 13, tzinfo=UTC)  # the DueDate attribute: midnight UTC
    opened = NOW - timedelta(seconds=80)
    # `demo` counts a day every 2 seconds from the case's opening: 40 days, not 0.
    assert load_policy("demo").day_seconds == 2
    assert case_days_past_due(due, "demo", opened, NOW) == 40
    # Real days: calendar days from the due date; an unknown policy: the same.
    assert case_days_past_due(due - timedelta(days=12), "default", opened, NOW) == 12
    assert case_days_past_due(due - timedelta(days=3), "no-such-policy", opened, NOW) == 3
    # A fast clock's count without the case's opening is not known.
    assert case_days_past_due(due, "demo", None, NOW) is None
    assert case_days_past_due(None, "demo", opened, NOW) is None


class RunsOfOneCase:
    """A client that describes the runs of one case: `starts` by run id; a run not there is
    past retention."""

    def __init__(self, first_run_id: str, starts: dict[str, datetime]) -> None:
        self.first_run_id, self.starts = first_run_id, starts

    def get_workflow_handle(self, workflow_id: str, *, run_id: str) -> Any:
        async def describe() -> Any:
            if run_id not in self.starts:
                raise RPCError("not found", RPCStatusCode.NOT_FOUND, b"")
            info = SimpleNamespace(first_run_id=self.first_run_id)
            return SimpleNamespace(
                start_time=self.starts[run_id],
                raw_description=SimpleNamespace(workflow_execution_info=info),
            )

        return SimpleNamespace(describe=describe)


def test_a_case_is_opened_when_its_first_run_started() -> None:
    opened, handed_over = NOW - timedelta(minutes=5), NOW - timedelta(minutes=1)

    def run(run_id: str, start: datetime) -> Any:
        return SimpleNamespace(id="collection-L-1", run_id=run_id, start_time=start)

    def opening(client: RunsOfOneCase, execution: Any) -> datetime | None:
        return asyncio.run(case_opening(client, execution))  # type: ignore[arg-type]

    # Never continued: its own start.
    client = RunsOfOneCase("r-1", {"r-1": opened})
    assert opening(client, run("r-1", opened)) == opened
    # Continued as new: the first run's start, not the run's own.
    client = RunsOfOneCase("r-1", {"r-1": opened, "r-2": handed_over})
    assert opening(client, run("r-2", handed_over)) == opened
    # The first run past retention: not known.
    client = RunsOfOneCase("r-1", {"r-2": handed_over})
    assert opening(client, run("r-2", handed_over)) is None


def test_an_answers_amounts_read_as_money() -> None:
    answer = {"payment_id": "p-1", "applied": True, "outstanding_minor": 400000}
    answer |= {"overpaid_minor": 0, "status": "active"}
    assert amounts_text(answer, "CNY") == "outstanding CNY 4,000.00, overpaid CNY 0.00"
    assert amounts_text({"plan_id": "pl-1", "accepted": True}, "CNY") == ""


def run_into_closed_pipe(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    """`starter.py ARGS | head -0`: the reader has gone before the command writes."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "starter.py", *args],
            cwd=PROJECT_DIR,
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=env,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)


def test_a_closed_pipe_ends_a_command_quietly(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'cases.db'}"}
    for args in (["migrate"], ["--help"], ["open", "--help"]):
        result = run_into_closed_pipe(*args, env=env)
        assert (result.returncode, result.stderr.decode()) == (0, ""), args
