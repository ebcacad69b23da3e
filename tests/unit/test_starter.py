"""Unit tests of the command line: no Temporal server needed (a fake client stands in)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCStatusCode

from cli import cases, console, csv_import, demo, listing, render
from cli import main as starter
from cli.arguments import ClientFactory
from domain.case import parse_case_input
from domain.clock import BUCKETS, bucket
from domain.commitments import (
    Owed,
    check_plan,
    check_promise,
    check_settlement,
    parse_plan,
    parse_promise,
    parse_settlement,
)
from domain.fields import AMOUNT_MAX
from policies import load_policy
from tests.helpers.cli import (
    GOOD_ROW,
    HEADER,
    KEYWORD,
    NOW,
    FakeOperatorService,
    operator_client,
    refuse_connect,
    run_cli,
)
from tests.helpers.paths import PROJECT_DIR
from workflows import search_attributes as sa

BAD_PHONE_ROW = (
    "L-2,B-2,Test B,12345,b@example.cn,Asia/Shanghai,zh-CN,CNY,1000,2026-03-01,,retail,x"
)
BAD_AMOUNT_ROW = "L-3,B-3,Test C,,,,en,USD,12.50,2026-03-01,,retail,x"


class FakeClient:
    """Records `start_workflow` calls; answers as the server would for each loan."""

    def __init__(self, existing: set[str] | None = None, closed: set[str] | None = None) -> None:
        self.starts: list[dict[str, Any]] = []
        self.existing = existing or set()
        self.closed = closed or set()

    async def start_workflow(self, workflow: str, arg: Any, **kwargs: Any) -> Any:
        self.starts.append({"workflow": workflow, "arg": arg, **kwargs})
        if kwargs["id"] in self.closed:
            raise WorkflowAlreadyStartedError(kwargs["id"], workflow, run_id="run-old")
        started = kwargs["id"] not in self.existing
        handle = SimpleNamespace(
            result_run_id="run-1", _start_workflow_response=SimpleNamespace(started=started)
        )
        return handle


def fake_connect(client: object) -> ClientFactory:
    async def connect() -> Client:
        return cast(Client, client)

    return connect


def write_csv(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "cases.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


# -- CSV parsing and validation -----------------------------------------------------------
def test_csv_reports_every_invalid_row_with_line_and_field() -> None:
    text = "\n".join([HEADER, GOOD_ROW, BAD_PHONE_ROW, BAD_AMOUNT_ROW]) + "\n"
    batch = csv_import.parse_case_csv(io.StringIO(text), now=NOW)
    assert [case.loan_id for case in batch.cases] == ["L-1"]
    assert [(e.line, e.field) for e in batch.errors] == [
        (3, "borrower.phone"),
        (4, "overdue_amount_minor"),
    ]
    assert batch.errors[0].describe().startswith("line 3: borrower.phone: ")


def test_csv_row_becomes_case_input_and_extra_columns_are_ignored() -> None:
    batch = csv_import.parse_case_csv(io.StringIO(f"{HEADER}\n{GOOD_ROW}\n"), now=NOW)
    raw = batch.cases[0].raw
    assert raw["overdue_amount_minor"] == 500000
    assert raw["borrower"]["phone"] == "+8613800138000"
    assert raw["portfolio"] == "retail"
    assert "policy" not in raw  # empty column: the default policy
    assert "extra" not in raw and "extra" not in raw["borrower"]


def test_csv_policy_flag_overrides_and_unknown_policy_is_invalid() -> None:
    row = GOOD_ROW.replace(",,retail", ",no-such-policy,retail")
    batch = csv_import.parse_case_csv(io.StringIO(f"{HEADER}\n{row}\n"), now=NOW)
    assert [(e.line, e.field) for e in batch.errors] == [(2, "policy")]
    batch = csv_import.parse_case_csv(io.StringIO(f"{HEADER}\n{row}\n"), now=NOW, policy="demo")
    assert not batch.errors
    assert batch.cases[0].raw["policy"] == "demo"


def test_csv_days_overdue_gives_a_due_date_in_the_borrowers_timezone() -> None:
    header = "loan_id,borrower_id,timezone,currency,overdue_amount_minor,due_date,days_overdue"
    # 20:00 UTC is already the next day in Shanghai.
    late = datetime(2026, 3, 10, 20, 0, tzinfo=UTC)
    text = f"{header}\nL-1,B-1,Asia/Shanghai,CNY,100,,5\nL-2,B-2,,CNY,100,,0\nL-3,B-3,,CNY,100,,x\n"
    batch = csv_import.parse_case_csv(io.StringIO(text), now=late)
    assert [c.raw["due_date"] for c in batch.cases] == ["2026-03-06", "2026-03-10"]
    assert [(e.line, e.field) for e in batch.errors] == [(4, "days_overdue")]


def test_csv_missing_column_and_repeated_loan_are_reported() -> None:
    batch = csv_import.parse_case_csv(io.StringIO("loan_id,currency\nL-1,CNY\n"), now=NOW)
    assert {e.field for e in batch.errors} == {"borrower_id", "overdue_amount_minor", "due_date"}
    assert all(e.line == 1 for e in batch.errors)
    batch = csv_import.parse_case_csv(io.StringIO(f"{HEADER}\n{GOOD_ROW}\n\n{GOOD_ROW}\n"), now=NOW)
    assert len(batch.cases) == 1
    assert [(e.line, e.field) for e in batch.errors] == [(4, "loan_id")]


def test_import_with_an_invalid_row_opens_nothing(tmp_path: Path, capsys: Any) -> None:
    path = write_csv(tmp_path, GOOD_ROW, BAD_PHONE_ROW)
    code = asyncio.run(starter.run(["import", str(path)], connect=refuse_connect))
    assert code == 2
    err = capsys.readouterr().err
    assert "line 3: borrower.phone" in err
    assert "nothing imported" in err


def test_import_skip_invalid_opens_valid_rows_idempotently(tmp_path: Path, capsys: Any) -> None:
    today = datetime.now(UTC).date() - timedelta(days=3)
    rows = [
        GOOD_ROW.replace("2026-03-01", today.isoformat()),
        GOOD_ROW.replace("L-1,", "L-4,").replace("2026-03-01", today.isoformat()),
        GOOD_ROW.replace("L-1,", "L-5,").replace("2026-03-01", today.isoformat()),
        BAD_PHONE_ROW,
    ]
    path = write_csv(tmp_path, *rows)
    client = FakeClient(existing={"collection-L-4"}, closed={"collection-L-5"})
    code = asyncio.run(
        starter.run(["import", str(path), "--skip-invalid"], connect=fake_connect(client))
    )
    assert code == 0
    assert [start["id"] for start in client.starts] == [
        "collection-L-1",
        "collection-L-4",
        "collection-L-5",
    ]
    out = capsys.readouterr().out
    assert "opened 1, already open 1, closed 1, invalid 1" in out


# -- open ---------------------------------------------------------------------------------
def open_args(*extra: str) -> list[str]:
    return [
        "open",
        "--loan-id",
        "L-1001",
        "--borrower-id",
        "B-77",
        "--name",
        "Test Person",
        "--phone",
        "+8613800138000",
        "--timezone",
        "Asia/Shanghai",
        "--currency",
        "CNY",
        "--amount-minor",
        "500000",
        "--due-date",
        "2026-03-01",
        "--portfolio",
        "consumer",
        *extra,
    ]


def test_case_from_flags_builds_the_contract_shape() -> None:
    args = starter.build_parser().parse_args(open_args("--policy", "demo"))
    raw = cases.case_from_flags(args)
    assert raw == {
        "loan_id": "L-1001",
        "borrower": {
            "borrower_id": "B-77",
            "name": "Test Person",
            "phone": "+8613800138000",
            "timezone": "Asia/Shanghai",
        },
        "currency": "CNY",
        "overdue_amount_minor": 500000,
        "due_date": "2026-03-01",
        "policy": "demo",
        "portfolio": "consumer",
    }
    case, _ = cases.validate_case(raw, now=NOW)
    assert case.borrower.locale == "zh-CN"


def test_case_from_flags_overrides_the_file() -> None:
    args = starter.build_parser().parse_args(["open", "--file", "x.json", "--policy", "demo"])
    base = {"loan_id": "L-9", "borrower": {"borrower_id": "B-9"}, "policy": "default"}
    raw = cases.case_from_flags(args, base)
    assert raw["policy"] == "demo"
    assert raw["borrower"] == {"borrower_id": "B-9"}
    assert base["policy"] == "default"  # the file's object is not modified


def test_open_case_starts_with_ids_summary_and_search_attributes() -> None:
    client = FakeClient()
    args = starter.build_parser().parse_args(open_args())
    result = asyncio.run(
        cases.open_case(cast(Client, client), cases.case_from_flags(args), now=NOW)
    )
    assert result.outcome == "opened"
    (start,) = client.starts
    assert start["workflow"] == "CollectionCase"
    assert start["id"] == "collection-L-1001"
    assert start["task_queue"] == "collections"
    assert start["id_conflict_policy"] == WorkflowIDConflictPolicy.USE_EXISTING
    assert start["id_reuse_policy"] == WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY
    assert start["static_summary"] == (
        "Loan L-1001 · CNY 5,000.00 overdue · borrower B-77 · policy chosen by routing"
    )
    # Without a policy of its own the worker routes the case: none in the start input or the
    # attributes until then.
    assert "policy" not in start["arg"] and "policy_given" not in start["arg"]
    assert start["arg"]["borrower"]["name"] == "Test Person"
    attributes = start["search_attributes"]
    assert attributes.get(sa.STAGE) == "preparation"
    assert attributes.get(sa.STATUS) == "active"
    assert attributes.get(sa.BUCKET) == "M1"
    # Days past due would be stale tomorrow: not an attribute; DueDate answers it. Nobody is
    # responsible before phone collection: no assignee.
    # No arm outside an experiment, and the policy comes with preparation.
    assert {pair.key.name for pair in attributes} == set(sa.INDEXED_TYPES) - {
        sa.ASSIGNEE.name,
        sa.ARM.name,
        sa.POLICY.name,
    }
    assert attributes.get(sa.DUE_DATE) == datetime(2026, 3, 1, tzinfo=UTC)
    assert attributes.get(sa.OUTSTANDING_MINOR) == 500000
    # No personal data in search attributes or memo.
    exposed = [str(pair.value) for pair in attributes] + [str(v) for v in start["memo"].values()]
    assert not any("Test Person" in v or "+86138" in v for v in exposed)


def test_open_case_reports_existing_and_closed_cases() -> None:
    raw = cases.case_from_flags(starter.build_parser().parse_args(open_args()))
    existing = FakeClient(existing={"collection-L-1001"})
    closed = FakeClient(closed={"collection-L-1001"})
    assert asyncio.run(cases.open_case(cast(Client, existing), raw, now=NOW)).outcome == (
        "already_open"
    )
    assert asyncio.run(cases.open_case(cast(Client, closed), raw, now=NOW)).outcome == "closed"


def test_open_invalid_case_exits_2_without_contacting_temporal() -> None:
    result = run_cli(*open_args()[:-2], "--email", "not-an-email")
    assert result.returncode == 2, result.stderr
    assert "invalid case: borrower.email:" in result.stderr
    assert "connect" not in result.stderr.lower()


def test_open_refuses_an_amount_beyond_2_53_without_contacting_temporal() -> None:
    for amount in (2**63, AMOUNT_MAX + 1):
        args = open_args()
        args[args.index("--amount-minor") + 1] = str(amount)
        result = run_cli(*args)
        assert result.returncode == 2, result.stderr
        assert "invalid case: overdue_amount_minor: must be at most" in result.stderr
        assert "connect" not in result.stderr.lower()


PARTS_FLAGS = ("--principal", "400000", "--interest", "50000", "--fees", "50000")


def test_open_takes_the_debts_parts_terms_and_segment_into_the_start_input() -> None:
    flags = (*PARTS_FLAGS, "--penalty-rate-bps", "5", "--fees-authorized", "--segment", "sme")
    raw = cases.case_from_flags(starter.build_parser().parse_args(open_args(*flags)))
    assert raw["balance"] == {
        "principal_minor": 400000,
        "interest_minor": 50000,
        "fees_minor": 50000,
    }
    assert raw["terms"] == {"penalty_rate_bps_per_day": 5, "fees_authorized": True}
    assert raw["segment"] == "sme"
    case, _ = cases.validate_case(raw, now=NOW)
    payload = cases.case_payload(case)
    # What the workflow reads: the opening parts only (penalty is the case's to accrue).
    assert payload["balance"] == raw["balance"]
    assert payload["terms"] == raw["terms"] and payload["segment"] == "sme"
    assert parse_case_input(payload, now=NOW) == case


def test_open_without_parts_starts_as_before() -> None:
    raw = cases.case_from_flags(starter.build_parser().parse_args(open_args()))
    assert not {"balance", "terms", "segment"} & set(raw)
    case, _ = cases.validate_case(raw, now=NOW)
    payload = cases.case_payload(case)
    assert not {"balance", "terms", "segment"} & set(payload)
    assert parse_case_input(payload, now=NOW) == case


def test_open_parts_flags_override_the_files_and_the_rest_is_kept() -> None:
    args = starter.build_parser().parse_args(
        ["open", "--file", "x.json", "--interest", "0", "--no-fees-authorized"]
    )
    base = {
        "balance": {"principal_minor": 1, "interest_minor": 2},
        "terms": {"penalty_rate_bps_per_day": 5, "fees_authorized": True},
    }
    raw = cases.case_from_flags(args, base)
    assert raw["balance"] == {"principal_minor": 1, "interest_minor": 0}
    assert raw["terms"] == {"penalty_rate_bps_per_day": 5, "fees_authorized": False}
    assert base["balance"] == {"principal_minor": 1, "interest_minor": 2}  # not modified


def test_static_details_show_the_opening_parts_and_terms() -> None:
    flags = (*PARTS_FLAGS, "--penalty-rate-bps", "5")
    raw = cases.case_from_flags(starter.build_parser().parse_args(open_args(*flags)))
    case, policy = cases.validate_case(raw, now=NOW)
    details = cases.static_details(case, policy, now=NOW)
    assert "**By part** principal CNY 4,000.00 · interest CNY 500.00 · fees CNY 500.00" in details
    assert "**Terms** penalty rate 5 bps/day; fees and penalty authorised: no" in details
    plain, _ = cases.validate_case(
        cases.case_from_flags(starter.build_parser().parse_args(open_args())), now=NOW
    )
    assert "By part" not in cases.static_details(plain, policy, now=NOW)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ("--principal", "400000", "--interest", "50000"),
            "invalid case: balance (--principal, --interest): its parts sum to 450000, "
            "not to overdue_amount_minor (500000)",
        ),
        (
            ("--principal", "550000", "--fees", "-50000"),
            "invalid case: balance.fees_minor (--fees): must be a whole number",
        ),
        (
            ("--penalty-rate-bps", "101"),
            "invalid case: terms.penalty_rate_bps_per_day (--penalty-rate-bps): "
            "must be at most 100",
        ),
        (
            ("--segment", "s" * 65),
            "invalid case: segment (--segment): must be at most 64 characters",
        ),
    ],
)
def test_open_refuses_parts_or_terms_the_case_would_naming_the_flag(
    flags: tuple[str, ...], message: str, capsys: Any
) -> None:
    assert asyncio.run(starter.run(open_args(*flags), connect=refuse_connect)) == 2
    assert capsys.readouterr().err.startswith(message)


def test_open_names_the_field_alone_when_it_came_from_the_file(tmp_path: Path, capsys: Any) -> None:
    raw = cases.case_from_flags(starter.build_parser().parse_args(open_args()))
    path = tmp_path / "case.json"
    path.write_text(json.dumps({**raw, "balance": {"interest_minor": 1}}), encoding="utf-8")
    assert asyncio.run(starter.run(["open", "--file", str(path)], connect=refuse_connect)) == 2
    assert capsys.readouterr().err.startswith("invalid case: balance: its parts sum to 1,")


def pay_args(*extra: str, amount: int = 100000) -> list[str]:
    return ["pay", "L-1001", "--amount-minor", str(amount), "--currency", "CNY", *extra]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (pay_args("--payment-id", "p-1", amount=10**23), "amount_minor"),
        (pay_args("--payment-id", "p-1", amount=AMOUNT_MAX + 1), "amount_minor"),
        (pay_args("--payment-id", "p-1", amount=0), "amount_minor"),
        (pay_args("--payment-id", "p" * 129), "payment_id"),
        (pay_args("--payment-id", ""), "payment_id"),
        (pay_args("--payment-id", "p-1", "--paid-at", "2099-01-01T00:00:00Z"), "paid_at"),
        (pay_args("--payment-id", "p-1", "--source", "s" * 65), "source"),
    ],
)
def test_pay_refuses_what_the_case_would_reject_without_contacting_temporal(
    args: list[str], field: str, capsys: Any
) -> None:
    assert asyncio.run(starter.run(args, connect=refuse_connect)) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"invalid payment: {field}: ")
    assert "payment id" not in captured.out  # no id offered for a payment never sent


def test_pay_amount_beyond_2_53_exits_2_through_main() -> None:
    result = run_cli(*pay_args("--payment-id", "p-1", amount=100000000000000000000000))
    assert result.returncode == 2, result.stderr
    assert "invalid payment: amount_minor: must be at most 9007199254740991" in result.stderr
    assert "connect" not in result.stderr.lower()


def test_pay_at_the_bound_is_sent() -> None:
    # The counterpart: 2^53 - 1 passes the CLI and gets as far as connecting.
    result = run_cli(*pay_args("--payment-id", "p-1", amount=AMOUNT_MAX))
    assert result.returncode == 1
    assert "connect" in result.stderr.lower()


def test_an_empty_payment_id_is_refused_not_replaced_by_a_new_one(capsys: Any) -> None:
    """A new id on every retry would pay again each time."""
    assert asyncio.run(starter.run(pay_args("--payment-id", ""), connect=refuse_connect)) == 2
    captured = capsys.readouterr()
    assert captured.err == ("invalid payment: payment_id: must be 1 to 128 characters, not empty\n")
    assert captured.out == ""


class RecordingCase:
    """A case's handle that records each update and answers it."""

    def __init__(self, sent: list[tuple[str, str, Any]], workflow_id: str) -> None:
        self.sent = sent
        self.workflow_id = workflow_id

    async def execute_update(self, update: str, arg: Any, **kwargs: Any) -> dict[str, Any]:
        self.sent.append((self.workflow_id, update, arg))
        return {"status": "active"}


class RecordingClient:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any]] = []

    def get_workflow_handle(self, workflow_id: str) -> RecordingCase:
        return RecordingCase(self.sent, workflow_id)


# Each command that sends a message, with the option that is its id, the rest of its flags,
# and what it sends.
MESSAGE_COMMANDS = {
    "pay": ("--payment-id", ["--amount-minor", "100", "--currency", "CNY"], "record_payment"),
    "promise": (
        "--promise-id",
        ["--amount-minor", "100", "--due-date", "2026-12-05"],
        "promise_to_pay",
    ),
    "plan": ("--plan-id", ["--installment", "2026-12-10:100"], "propose_plan"),
    "settle": (
        "--settlement-id",
        ["--amount-minor", "100", "--due-date", "2026-12-05"],
        "agree_settlement",
    ),
    "hold": ("--hold-id", ["--kind", "dispute", "--reason", "disputes the fee"], "place_hold"),
    "release": ("--hold-id", [], "release_hold"),
    "callback": ("--request-id", ["--at", "2026-12-05T14:00:00+08:00"], "request_callback"),
    "outcome": ("--attempt-id", ["--outcome", "reached"], "record_contact_outcome"),
    "visit": ("--visit-id", ["--outcome", "met"], "record_visit_outcome"),
    "legal": ("--event-id", ["--event", "filed"], "record_legal_event"),
    "adjust": (
        "--adjustment-id",
        ["--component", "fees", "--amount-minor", "-100"],
        "adjust_balance",
    ),
}
WHAT_OF_COMMAND = {
    "pay": "payment",
    "promise": "promise",
    "plan": "plan",
    "settle": "settlement",
    "hold": "hold",
    "release": "hold release",
    "callback": "call back",
    "outcome": "contact outcome",
    "visit": "visit outcome",
    "legal": "legal event",
    "adjust": "adjustment",
}


def message_args(command: str, message_id: str, loan_id: str = "L-1001") -> list[str]:
    option, flags, _ = MESSAGE_COMMANDS[command]
    return [command, loan_id, option, message_id, *flags]


@pytest.mark.parametrize("command", sorted(MESSAGE_COMMANDS))
@pytest.mark.parametrize(
    ("message_id", "problem"),
    [
        ("", "must be 1 to 128 characters, not empty"),
        ("m" * 129, "must be at most 128 characters"),
    ],
)
def test_every_id_option_is_refused_empty_or_over_long_without_contacting_temporal(
    command: str, message_id: str, problem: str, capsys: Any
) -> None:
    assert asyncio.run(starter.run(message_args(command, message_id), connect=refuse_connect)) == 2
    captured = capsys.readouterr()
    field = MESSAGE_COMMANDS[command][0].removeprefix("--").replace("-", "_")
    assert captured.err == f"invalid {WHAT_OF_COMMAND[command]}: {field}: {problem}\n"
    assert captured.out == ""


@pytest.mark.parametrize("command", sorted(MESSAGE_COMMANDS))
@pytest.mark.parametrize("loan_id", ["", "L 1001", "L" * 65])
def test_every_message_command_refuses_a_malformed_loan_id(
    command: str, loan_id: str, capsys: Any
) -> None:
    args = message_args(command, "m-1", loan_id=loan_id)
    assert asyncio.run(starter.run(args, connect=refuse_connect)) == 2
    assert capsys.readouterr().err.startswith(f"invalid {WHAT_OF_COMMAND[command]}: loan_id: ")


@pytest.mark.parametrize("command", sorted(MESSAGE_COMMANDS))
def test_every_message_command_sends_a_valid_message_to_its_case(command: str, capsys: Any) -> None:
    client = RecordingClient()
    code = asyncio.run(starter.run(message_args(command, "m" * 128), connect=fake_connect(client)))
    assert code == 0, capsys.readouterr().err
    ((workflow_id, update, arg),) = client.sent
    option, _, expected_update = MESSAGE_COMMANDS[command]
    assert (workflow_id, update) == ("collection-L-1001", expected_update)
    assert arg[option.removeprefix("--").replace("-", "_")] == "m" * 128


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ([*message_args("hold", "h-1")[:-1], "r" * 2001], "reason"),
        ([*message_args("outcome", "c-1"), "--note", "n" * 2001], "note"),
        ([*message_args("legal", "e-1"), "--note", "n\x00"], "note"),
        ([*message_args("adjust", "a-1"), "--reason", "r" * 2001], "reason"),
        ([*message_args("callback", "cb-1")[:-1], "2026-12-05T14:00"], "at"),
    ],
)
def test_message_texts_the_case_would_refuse_are_refused_before_sending(
    args: list[str], field: str, capsys: Any
) -> None:
    assert asyncio.run(starter.run(args, connect=refuse_connect)) == 2
    assert f": {field}: " in capsys.readouterr().err


def test_open_valid_case_does_try_to_connect() -> None:
    # The counterpart of the test above: a valid case gets as far as connecting.
    result = run_cli(*open_args())
    assert result.returncode == 1
    assert "connect" in result.stderr.lower()


@pytest.mark.parametrize(
    "command",
    [
        "setup",
        "open",
        "import",
        "pay",
        "promise",
        "plan",
        "settle",
        "hold",
        "release",
        "callback",
        "outcome",
        "visit",
        "legal",
        "adjust",
        "status",
        "list",
        "demo",
    ],
)
def test_help_of_each_command_exits_0(command: str, capsys: Any) -> None:
    with pytest.raises(SystemExit) as exit_:
        starter.build_parser().parse_args([command, "--help"])
    assert exit_.value.code == 0
    assert f"starter.py {command}" in capsys.readouterr().out


def test_help_through_main_exits_0() -> None:
    result = run_cli("status", "--help")
    assert result.returncode == 0
    assert "--json" in result.stdout


def test_setup_adds_only_the_missing_search_attributes(capsys: Any) -> None:
    existing = {k: v for k, v in sa.INDEXED_TYPES.items() if k not in ("LoanId", "DueDate")}
    service = FakeOperatorService(existing)
    client = operator_client(service)
    assert asyncio.run(starter.run(["setup"], connect=fake_connect(client))) == 0
    assert service.added == [
        {"LoanId": KEYWORD, "DueDate": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME}
    ]
    out = capsys.readouterr().out
    assert "added LoanId (Keyword)" in out and "added DueDate (Datetime)" in out
    assert "already present CollectionStage (Keyword)" in out
    assert "already present OutstandingMinor (Int)" in out
    assert "DaysPastDue" not in out  # dropped: it could only stay current by daily wake-ups
    assert "namespace default: added 2, already present 8" in out
    # Again: everything is there, nothing is added.
    assert asyncio.run(starter.run(["setup"], connect=fake_connect(client))) == 0
    assert len(service.added) == 1
    assert "namespace default: added 0, already present 10" in capsys.readouterr().out


def test_setup_reports_an_attribute_of_another_type_and_exits_1(capsys: Any) -> None:
    service = FakeOperatorService({**sa.INDEXED_TYPES, "OutstandingMinor": KEYWORD})
    code = asyncio.run(starter.run(["setup"], connect=fake_connect(operator_client(service))))
    assert code == 1
    assert service.added == []
    captured = capsys.readouterr()
    assert "wrong type OutstandingMinor: Keyword on the server, Int needed" in captured.err
    assert "added 0, already present 9, wrong type 1" in captured.out


@pytest.mark.parametrize(
    ("host", "refuse"),
    [
        ("my-ns.a1b2c.tmprl.cloud:7233", None),
        ("eu-west-1.aws.api.temporal.io:7233", None),
        ("temporal.internal:7233", RPCStatusCode.PERMISSION_DENIED),
    ],
)
def test_setup_where_clients_may_not_add_explains_tcld(
    host: str, refuse: RPCStatusCode | None, capsys: Any
) -> None:
    service = FakeOperatorService({"CollectionStage": KEYWORD}, refuse=refuse)
    client = operator_client(service, host)
    assert asyncio.run(starter.run(["setup"], connect=fake_connect(client))) == 1
    assert service.added == []
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "cannot add search attributes to default" in err
    assert (
        "tcld namespace search-attributes add --namespace default "
        "--search-attribute DueDate=Datetime"
    ) in err
    assert "--search-attribute CollectionStage=" not in err  # already there


# -- rendering and queries ------------------------------------------------------------------
STATUS: dict[str, Any] = {
    "loan_id": "L-7",
    "stage": "phone",
    "status": "active",
    "days_past_due": 15,
    "bucket": "M1",
    "currency": "CNY",
    "outstanding_minor": 333334,
    "paid_minor": 166666,
    "overpaid_minor": 0,
    "policy": "demo",
    "portfolio": "consumer",
    "holds": [],
    "promise": None,
    "plan": None,
    "next_action": {"kind": "call", "due_at": "2026-03-10T12:00:00+00:00"},
    "contacts": [
        {"attempt_id": "a-1", "channel": "sms", "template": "t", "at": "x", "result": "sent"},
        {"attempt_id": "a-2", "channel": "call", "template": "t", "at": "y", "result": "queued"},
    ],
    "payments": [{"payment_id": "p-1", "amount_minor": 166666, "at": "z", "source": None}],
    "rejected_payments": [{"payment_id": "p-x", "reason": "currency: must be CNY"}],
    "legal": None,
}


def test_render_status_formats_money_and_lists_contacts() -> None:
    text = render.render_status(STATUS)
    assert "CNY 3,333.34" in text
    assert "CNY 1,666.66" in text
    assert "15 (M1)" in text
    assert "contacts (2)" in text and "queued" in text
    assert "rejected payments (1)" in text and "currency: must be CNY" in text


def test_render_status_shows_the_balance_by_part_and_what_each_payment_paid_off() -> None:
    status = {
        **STATUS,
        "balance": {
            "principal_minor": 300000,
            "interest_minor": 30000,
            "fees_minor": 0,
            "penalty_minor": 3334,
            "as_of": "2026-03-10T12:00:00+00:00",
        },
        "payments": [
            {
                "payment_id": "p-1",
                "amount_minor": 166666,
                "at": "z",
                "source": None,
                "allocation": {
                    "fees_minor": 10000,
                    "penalty_minor": 1200,
                    "interest_minor": 20000,
                    "principal_minor": 135466,
                },
            },
            {
                "payment_id": "p-2",
                "amount_minor": 5000,
                "at": "z",
                "source": "bank",
                "allocation": {
                    "fees_minor": 0,
                    "penalty_minor": 0,
                    "interest_minor": 0,
                    "principal_minor": 3000,
                },
            },
        ],
        "rejected_adjustments": [{"adjustment_id": "adj-9", "reason": "amount_minor: below 0"}],
    }
    lines = render.render_status(status).splitlines()
    by_part = next(line for line in lines if line.startswith("by part"))
    assert by_part.split("  ")[-1].strip() == (
        "principal CNY 3,000.00 · interest CNY 300.00 · fees CNY 0.00 · penalty CNY 33.34"
    )
    assert any(line.startswith("as of") and "2026-03-10T12:00:00" in line for line in lines)
    [first] = [line for line in lines if line.startswith("p-1 ")]
    assert first.endswith(
        "principal CNY 1,354.66, interest CNY 200.00, fees CNY 100.00, penalty CNY 12.00"
    )
    [second] = [line for line in lines if line.startswith("p-2 ")]
    assert second.endswith("principal CNY 30.00, overpaid CNY 20.00")
    assert "rejected adjustments (1)" in lines
    assert any("adj-9" in line and "below 0" in line for line in lines)


def test_render_status_of_a_case_from_before_debts_had_parts() -> None:
    text = render.render_status(STATUS)
    assert "by part" not in text and "as of" not in text
    [payment] = [line for line in text.splitlines() if line.startswith("p-1 ")]
    assert payment.rstrip().endswith("z")  # no allocation: nothing to show after the time


# Every list query: cases, each by its latest run (not the runs it continued as new from).
LATEST_RUNS = "WorkflowType = 'CollectionCase' AND ExecutionStatus != 'ContinuedAsNew'"


def test_list_query_filters_and_refuses_quotes() -> None:
    query = listing.list_query(stage="phone", portfolio="consumer")
    assert query == (
        f"{LATEST_RUNS} AND CollectionStage = 'phone' AND CollectionPortfolio = 'consumer'"
    )
    assert listing.list_query(bucket="M4+", status="active") == (
        f"{LATEST_RUNS} AND CollectionStatus = 'active' AND CollectionBucket = 'M4+'"
    )
    with pytest.raises(console.UsageError):
        listing.list_query(policy="x' OR 1=1 --")


def test_list_query_days_past_due_becomes_due_date_bounds() -> None:
    today = NOW.date()  # 2026-03-10
    # At least 30 days past due: due on or before 2026-02-08, i.e. before 2026-02-09.
    assert listing.list_query(min_dpd=30, today=today) == (
        f"{LATEST_RUNS} AND DueDate < '2026-02-09T00:00:00Z'"
    )
    # 31 to 60 (the M2 bucket's range): due from 2026-01-09 to 2026-02-07.
    assert listing.list_query(stage="phone", min_dpd=31, max_dpd=60, today=today) == (
        f"{LATEST_RUNS} AND CollectionStage = 'phone' "
        "AND DueDate < '2026-02-08T00:00:00Z' AND DueDate >= '2026-01-09T00:00:00Z'"
    )
    with pytest.raises(console.UsageError, match="greater than"):
        listing.list_query(min_dpd=10, max_dpd=5, today=today)


def test_list_dpd_filters_agree_with_the_dpd_column() -> None:
    """Every due date around the bounds: the query's verdict is the row's DPD verdict."""
    today = NOW.date()
    for min_dpd, max_dpd in ((30, None), (None, 30), (31, 60), (0, 0)):
        clauses = listing.due_date_clauses(today=today, min_dpd=min_dpd, max_dpd=max_dpd)
        # A due date is never after today (the contract refuses it), so offsets start at 0.
        for offset in range(0, 70):
            due = datetime.combine(today - timedelta(days=offset), datetime.min.time(), UTC)
            literal = due.strftime("%Y-%m-%dT%H:%M:%SZ")
            # The literals are ISO UTC strings of equal length: they compare like the instants.
            matched = all(
                literal < c.split("'")[1] if " < " in c else literal >= c.split("'")[1]
                for c in clauses
            )
            dpd = listing.days_past_due(due, NOW)
            assert dpd == offset
            expected = (min_dpd is None or dpd >= min_dpd) and (max_dpd is None or dpd <= max_dpd)
            assert matched == expected, (min_dpd, max_dpd, offset)


def test_buckets_are_the_domains() -> None:
    assert {bucket(days) for days in range(0, 400)} == set(BUCKETS)


def test_list_rejects_a_negative_dpd_before_connecting(capsys: Any) -> None:
    with pytest.raises(SystemExit) as exit_:
        starter.build_parser().parse_args(["list", "--min-dpd", "-1"])
    assert exit_.value.code == 2
    code = asyncio.run(
        starter.run(["list", "--min-dpd", "9", "--max-dpd", "3"], connect=refuse_connect)
    )
    assert code == 2
    assert "--min-dpd 9 is greater than --max-dpd 3" in capsys.readouterr().err


# -- demo behaviour ---------------------------------------------------------------------------
def status(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "loan_id": "L-9",
        "stage": "reminder",
        "status": "active",
        "currency": "CNY",
        "outstanding_minor": 90000,
        "paid_minor": 0,
        "holds": [],
        "contacts": [],
        "payments": [],
    }
    return {**base, **changes}


SMS = {"attempt_id": "s-1", "channel": "sms", "template": "t", "at": "x", "result": "sent"}


def updates(actions: list[demo.DemoAction]) -> list[tuple[str, str]]:
    return [(a.update, a.message_id) for a in actions]


def test_demo_pays_after_reminder_only_once_an_sms_exists() -> None:
    assert demo.demo_actions("pays_after_reminder", status(), now=NOW) == []
    (action,) = demo.demo_actions("pays_after_reminder", status(contacts=[SMS]), now=NOW)
    assert action.update == "record_payment"
    assert action.arg == {
        "payment_id": "demo-L-9-pay-1",
        "amount_minor": 90000,
        "currency": "CNY",
        "source": "demo",
    }


def test_demo_pays_in_parts_a_third_in_phone_the_rest_in_field_visit() -> None:
    (first,) = demo.demo_actions("pays_in_parts", status(stage="phone"), now=NOW)
    assert (first.message_id, first.arg["amount_minor"]) == ("demo-L-9-pay-1", 30000)
    paid = [{"payment_id": "demo-L-9-pay-1", "amount_minor": 30000}]
    after = status(stage="phone", outstanding_minor=60000, paid_minor=30000, payments=paid)
    assert demo.demo_actions("pays_in_parts", after, now=NOW) == []
    (second,) = demo.demo_actions("pays_in_parts", {**after, "stage": "field_visit"}, now=NOW)
    assert (second.message_id, second.arg["amount_minor"]) == ("demo-L-9-pay-2", 60000)


def test_demo_partial_then_stops_pays_once() -> None:
    (action,) = demo.demo_actions("partial_then_stops", status(stage="phone"), now=NOW)
    assert action.arg["amount_minor"] == 22500
    paid = [{"payment_id": "demo-L-9-pay-1"}]
    later = status(stage="field_visit", outstanding_minor=67500, paid_minor=22500, payments=paid)
    assert demo.demo_actions("partial_then_stops", later, now=NOW) == []
    assert demo.demo_actions("never_pays", status(stage="legal", contacts=[SMS]), now=NOW) == []


def test_demo_dispute_is_placed_in_phone_and_released_after_20_seconds() -> None:
    (place,) = demo.demo_actions("disputes", status(stage="phone"), now=NOW)
    assert (place.update, place.arg["kind"]) == ("place_hold", "dispute")
    hold = {"hold_id": "demo-L-9-dispute", "kind": "dispute", "placed_at": NOW.isoformat()}
    held = status(stage="phone", status="on_hold", holds=[hold])
    assert demo.demo_actions("disputes", held, now=NOW + timedelta(seconds=5)) == []
    (release,) = demo.demo_actions("disputes", held, now=NOW + timedelta(seconds=21))
    assert updates([release]) == [("release_hold", "demo-L-9-dispute")]
    # Released: not placed a second time in this run.
    again = demo.demo_actions("disputes", status(stage="phone"), now=NOW, done={place.key})
    assert again == []


def test_demo_agents_answer_queued_calls_and_booked_visits() -> None:
    contacts = [
        {"attempt_id": "c-1", "channel": "call", "result": "queued"},
        {"attempt_id": "c-2", "channel": "call", "result": "queued"},
        {"attempt_id": "c-3", "channel": "call", "result": "no_answer"},
        {"attempt_id": "v-1", "channel": "field_visit", "result": "booked"},
    ]
    actions = demo.demo_actions(
        "never_pays", status(stage="field_visit", contacts=contacts), now=NOW
    )
    assert [(a.update, a.message_id, a.arg.get("outcome")) for a in actions] == [
        ("record_contact_outcome", "c-1", "no_answer"),
        ("record_contact_outcome", "c-2", "reached"),
        ("record_visit_outcome", "v-1", "not_home"),
    ]
    # Each update's argument names its own id field, and says who recorded it.
    assert actions[0].arg == {"attempt_id": "c-1", "outcome": "no_answer", "note": "demo agent"}
    assert actions[2].arg == {"visit_id": "v-1", "outcome": "not_home", "note": "demo field team"}
    done = {"record_contact_outcome:c-1"}
    actions = demo.demo_actions(
        "never_pays", status(stage="field_visit", contacts=contacts), now=NOW, done=done
    )
    assert [a.message_id for a in actions] == ["c-2", "v-1"]


def test_demo_sends_nothing_to_a_closed_case() -> None:
    closed = status(stage="closed", status="paid", outstanding_minor=0, contacts=[SMS])
    assert demo.demo_actions("pays_after_reminder", closed, now=NOW) == []


def test_demo_actions_are_deterministic() -> None:
    contacts = [SMS, {"attempt_id": "c-1", "channel": "call", "result": "queued"}]
    first = demo.demo_actions(
        "pays_after_reminder", status(stage="phone", contacts=contacts), now=NOW
    )
    second = demo.demo_actions(
        "pays_after_reminder", status(stage="phone", contacts=contacts), now=NOW
    )
    assert first == second
    assert updates(first) == [
        ("record_payment", "demo-L-9-pay-1"),
        ("record_contact_outcome", "c-1"),
    ]


# -- demo: commitments ----------------------------------------------------------------------------
# The case fell due on DUE; at 12 days past due its calendar's today is TODAY.
DUE = date(2026, 2, 20)
TODAY = date(2026, 3, 4)
DEMO_RULES = load_policy("demo").commitments


def day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


def at(days_past_due: int = 12, **changes: Any) -> dict[str, Any]:
    """A demo case's status on day TODAY + (days_past_due - 12) of its calendar."""
    return status(days_past_due=days_past_due, **changes)


def commitment_actions(
    behaviour: str, case: dict[str, Any], done: frozenset[str] = frozenset()
) -> list[demo.DemoAction]:
    return demo.demo_actions(behaviour, case, now=NOW, done=done, due_date=DUE)


def promise(promise_id: str, due: str, state: str = "pending", **changes: Any) -> dict[str, Any]:
    return {
        "promise_id": promise_id,
        "amount_minor": 90000,
        "due_date": due,
        "state": state,
        "paid_toward_minor": 0,
        **changes,
    }


def test_demo_commitment_dates_count_from_the_case_due_date_and_days_past_due() -> None:
    assert demo.case_today(DUE, at(12)) == TODAY
    assert demo.case_today(DUE, at(0)) == DUE
    # Without the case's due date the demo makes no commitment.
    assert demo.demo_actions("keeps_promise", at(stage="phone"), now=NOW) == []


def test_demo_keeps_promise_promises_all_after_a_reminder_and_pays_the_day_before() -> None:
    assert commitment_actions("keeps_promise", at(stage="grace")) == []
    (made,) = commitment_actions("keeps_promise", at(stage="reminder"))
    assert (made.update, made.message_id) == ("promise_to_pay", "demo-L-9-promise")
    assert made.arg == {"promise_id": "demo-L-9-promise", "amount_minor": 90000, "due_date": day(5)}
    # The case takes it: check_promise is the case's own rule, today as the case counts it.
    check_promise(
        parse_promise(made.arg), DEMO_RULES, today=TODAY, owed=Owed(90000, "CNY"), broken_promises=0
    )

    pending = promise("demo-L-9-promise", day(5))
    for days in (12, 13, 14, 15):
        assert commitment_actions("keeps_promise", at(days, promise=pending)) == []
    (pay,) = commitment_actions("keeps_promise", at(16, promise=pending))
    assert pay.update == "record_payment"
    assert pay.arg == {
        "payment_id": "demo-L-9-promise-pay",
        "amount_minor": 90000,
        "currency": "CNY",
        "source": "demo",
    }
    # Part of it paid already: the rest; the payment recorded: nothing more.
    part = promise("demo-L-9-promise", day(5), paid_toward_minor=30000)
    (rest,) = commitment_actions("keeps_promise", at(17, promise=part))
    assert rest.arg["amount_minor"] == 60000
    paid = [{"payment_id": "demo-L-9-promise-pay"}]
    assert commitment_actions("keeps_promise", at(17, promise=part, payments=paid)) == []


def test_demo_breaks_promises_promises_in_three_stages_and_never_pays() -> None:
    (first,) = commitment_actions("breaks_promises", at(stage="reminder"))
    assert (first.update, first.message_id) == ("promise_to_pay", "demo-L-9-promise-reminder")
    assert (first.arg["amount_minor"], first.arg["due_date"]) == (45000, day(5))
    pending = promise("demo-L-9-promise-reminder", day(5))
    assert commitment_actions("breaks_promises", at(17, stage="reminder", promise=pending)) == []
    broken = promise("demo-L-9-promise-reminder", day(5), state="broken")
    # Broken: escalation resumes; in the same stage no second promise.
    assert commitment_actions("breaks_promises", at(19, stage="reminder", promise=broken)) == []
    (second,) = commitment_actions("breaks_promises", at(20, stage="phone", promise=broken))
    assert second.message_id == "demo-L-9-promise-phone"
    assert second.arg["due_date"] == day(8 + 5)
    broken = promise("demo-L-9-promise-phone", day(13), state="broken")
    (third,) = commitment_actions("breaks_promises", at(40, stage="field_visit", promise=broken))
    assert third.message_id == "demo-L-9-promise-field_visit"
    # After the third (broken) promise the policy takes no more: none is made.
    broken = promise("demo-L-9-promise-field_visit", day(33), state="broken")
    assert commitment_actions("breaks_promises", at(61, stage="legal", promise=broken)) == []


def plan(plan_id: str, *installments: tuple[str, int, int, str]) -> dict[str, Any]:
    return {
        "plan_id": plan_id,
        "state": "active",
        "installments": [
            {"due_date": due, "amount_minor": amount, "paid_minor": paid, "state": state}
            for due, amount, paid, state in installments
        ],
    }


def test_demo_completes_plan_agrees_three_installments_in_phone_and_pays_each() -> None:
    assert commitment_actions("completes_plan", at(stage="reminder")) == []
    (agreed,) = commitment_actions("completes_plan", at(stage="phone", outstanding_minor=100000))
    assert (agreed.update, agreed.message_id) == ("propose_plan", "demo-L-9-plan")
    assert agreed.arg == {
        "plan_id": "demo-L-9-plan",
        "installments": [
            {"due_date": day(3), "amount_minor": 33333},
            {"due_date": day(10), "amount_minor": 33333},
            {"due_date": day(17), "amount_minor": 33334},
        ],
    }
    check_plan(parse_plan(agreed.arg), DEMO_RULES, today=TODAY, owed=Owed(100000, "CNY"))

    active = plan(
        "demo-L-9-plan",
        (day(3), 30000, 0, "due"),
        (day(10), 30000, 0, "due"),
        (day(17), 30000, 0, "due"),
    )
    assert commitment_actions("completes_plan", at(13, stage="phone", plan=active)) == []
    (first,) = commitment_actions("completes_plan", at(14, stage="phone", plan=active))
    assert (first.message_id, first.arg["amount_minor"]) == ("demo-L-9-plan-1", 30000)
    active["installments"][0].update(paid_minor=30000, state="paid")
    paid = [{"payment_id": "demo-L-9-plan-1"}]
    assert commitment_actions("completes_plan", at(15, plan=active, payments=paid)) == []
    (second,) = commitment_actions("completes_plan", at(21, plan=active, payments=paid))
    assert (second.message_id, second.arg["amount_minor"]) == ("demo-L-9-plan-2", 30000)
    # A prepayment reduced the last installment: the rest of it is paid.
    active["installments"][1].update(paid_minor=30000, state="paid")
    active["installments"][2].update(paid_minor=1000)
    (third,) = commitment_actions("completes_plan", at(28, plan=active, payments=paid))
    assert (third.message_id, third.arg["amount_minor"]) == ("demo-L-9-plan-3", 29000)


def test_demo_breaks_plan_pays_the_first_installment_only() -> None:
    (agreed,) = commitment_actions("breaks_plan", at(stage="phone"))
    assert agreed.update == "propose_plan"
    assert sum(i["amount_minor"] for i in agreed.arg["installments"]) == 90000
    active = plan(
        "demo-L-9-plan",
        (day(3), 30000, 0, "due"),
        (day(10), 30000, 0, "due"),
        (day(17), 30000, 0, "due"),
    )
    (first,) = commitment_actions("breaks_plan", at(14, plan=active))
    assert first.message_id == "demo-L-9-plan-1"
    active["installments"][0].update(paid_minor=30000, state="paid")
    for days in (21, 22, 24):
        assert commitment_actions("breaks_plan", at(days, plan=active)) == []
    # Broken (missed installment): no new plan, no payment.
    broken = {**active, "state": "broken"}
    assert commitment_actions("breaks_plan", at(26, stage="phone", plan=broken)) == []


def test_demo_settles_in_field_visit_and_pays_the_settlement() -> None:
    assert commitment_actions("settles", at(stage="phone")) == []
    (agreed,) = commitment_actions("settles", at(40, stage="field_visit"))
    assert (agreed.update, agreed.message_id) == ("agree_settlement", "demo-L-9-settlement")
    assert agreed.arg == {
        "settlement_id": "demo-L-9-settlement",
        "amount_minor": 54000,
        "due_date": day(28 + 5),
    }
    check_settlement(
        parse_settlement(agreed.arg),
        DEMO_RULES,
        today=TODAY + timedelta(days=28),
        owed=Owed(90000, "CNY"),
    )
    pending = {
        "settlement_id": "demo-L-9-settlement",
        "amount_minor": 54000,
        "due_date": day(33),
        "state": "pending",
    }
    assert commitment_actions("settles", at(43, stage="field_visit", settlement=pending)) == []
    (pay,) = commitment_actions("settles", at(44, stage="field_visit", settlement=pending))
    assert (pay.message_id, pay.arg["amount_minor"]) == ("demo-L-9-settlement-pay", 54000)
    lapsed = {**pending, "state": "lapsed"}
    assert commitment_actions("settles", at(50, stage="field_visit", settlement=lapsed)) == []
    # Nothing left to forgive: no settlement (it must be below what is owed).
    assert commitment_actions("settles", at(40, stage="field_visit", outstanding_minor=1)) == []


@pytest.mark.parametrize(
    ("behaviour", "key", "part"),
    [
        ("keeps_promise", "promise", promise("demo-L-9-promise", day(-20), state="kept")),
        (
            "breaks_promises",
            "promise",
            promise("demo-L-9-promise-phone", day(-20), state="broken"),
        ),
        ("completes_plan", "plan", {**plan("demo-L-9-plan"), "state": "broken"}),
        ("breaks_plan", "plan", {**plan("demo-L-9-plan"), "state": "broken"}),
        (
            "settles",
            "settlement",
            {
                "settlement_id": "demo-L-9-settlement",
                "state": "lapsed",
                "amount_minor": 1,
                "due_date": day(-20),
            },
        ),
    ],
)
def test_demo_run_again_never_resends_a_commitment_the_case_holds(
    behaviour: str, key: str, part: dict[str, Any]
) -> None:
    """A second `make run` (nothing in `done`, later days) finds the commitment in status."""
    stage = "field_visit" if behaviour == "settles" else "phone"
    assert commitment_actions(behaviour, at(30, stage=stage, **{key: part})) == []


def test_demo_makes_no_commitment_over_another_one() -> None:
    pending = promise("pr-operator", day(3))
    active = {**plan("pl-operator"), "state": "active"}
    for behaviour in ("keeps_promise", "breaks_promises", "completes_plan", "breaks_plan"):
        assert commitment_actions(behaviour, at(stage="phone", promise=pending)) == []
        assert commitment_actions(behaviour, at(stage="phone", plan=active)) == []
    assert commitment_actions("settles", at(stage="field_visit", plan=active)) == []
    # Answered in this run already (the status not yet showing it): not sent again.
    (made,) = commitment_actions("keeps_promise", at(stage="reminder"))
    assert (
        commitment_actions("keeps_promise", at(stage="reminder"), done=frozenset({made.key})) == []
    )


def test_demo_commitments_are_deterministic() -> None:
    for behaviour, stage in (
        ("keeps_promise", "reminder"),
        ("breaks_promises", "reminder"),
        ("completes_plan", "phone"),
        ("breaks_plan", "phone"),
        ("settles", "field_visit"),
    ):
        first = commitment_actions(behaviour, at(stage=stage))
        assert first and first == commitment_actions(behaviour, at(stage=stage))


def test_demo_portfolio_is_valid_and_spans_the_ladder() -> None:
    batch = csv_import.read_case_csv(
        PROJECT_DIR / "data" / "demo_portfolio.csv",
        now=datetime.now(UTC),
        policy="demo",
        behaviours=demo.BEHAVIOURS,
    )
    assert batch.errors == []
    assert len(batch.cases) >= 20
    assert {c.behaviour for c in batch.cases} == set(demo.BEHAVIOURS)
    assert {c.raw["borrower"]["locale"] for c in batch.cases} == {"zh-CN", "en"}
    with (PROJECT_DIR / "data" / "demo_portfolio.csv").open(encoding="utf-8") as file:
        dpd = sorted(int(row["days_overdue"]) for row in csv.DictReader(file))
    assert dpd[0] == 0 and dpd[-1] >= 50
    assert all(c.raw["borrower"].get("address") for c in batch.cases)  # field visits need one
    emails = [c.raw["borrower"]["email"] for c in batch.cases]
    assert all(e.endswith(("@example.com", "@example.cn")) for e in emails)
    # Some debts have parts, in both locales, and some accrue penalty: `make run` shows them.
    with_parts = [c for c in batch.cases if c.raw.get("balance")]
    assert {c.raw["borrower"]["locale"] for c in with_parts} == {"zh-CN", "en"}
    accruing = [c for c in with_parts if c.raw.get("terms", {}).get("penalty_rate_bps_per_day")]
    assert accruing
    # None of those pays in full: the demo pays the outstanding amount its status showed, and
    # a day's penalty may accrue before the payment arrives, leaving the case open.
    assert {c.behaviour for c in accruing} <= {
        "never_pays",
        "disputes",
        "partial_then_stops",
        "breaks_promises",
    }
