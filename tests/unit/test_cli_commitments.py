"""`starter.py promise`, `plan` and `settle`: flags, local validation and the answers printed.

No Temporal server: a command refused locally must not even connect (`refuse_connect`), and a
fake client stands in for the case where one is sent.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, cast

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from cli import main as starter
from cli import render
from cli.arguments import ClientFactory
from domain.fields import AMOUNT_MAX
from tests.helpers.cli import refuse_connect, run_cli


class FakeCase:
    """A case's handle: records the updates it receives and answers (or rejects) them."""

    def __init__(self, client: FakeClient, workflow_id: str) -> None:
        self.client = client
        self.workflow_id = workflow_id

    async def execute_update(self, update: str, arg: Any, **kwargs: Any) -> dict[str, Any]:
        self.client.sent.append((self.workflow_id, update, arg))
        if self.client.reject is not None:
            kind, message = self.client.reject
            raise WorkflowUpdateFailedError(ApplicationError(message, type=kind))
        id_key = {"promise_to_pay": "promise_id", "propose_plan": "plan_id"}.get(
            update, "settlement_id"
        )
        return {id_key: arg[id_key], "accepted": True, "status": "promise_pending"}


class FakeClient:
    def __init__(self, reject: tuple[str, str] | None = None) -> None:
        self.sent: list[tuple[str, str, Any]] = []
        self.reject = reject

    def get_workflow_handle(self, workflow_id: str) -> FakeCase:
        return FakeCase(self, workflow_id)


def connect_to(client: FakeClient) -> ClientFactory:
    async def connect() -> Client:
        return cast(Client, client)

    return connect


def promise_args(
    *extra: str, promise_id: str = "pr-1", amount: str = "100000", due: str = "2026-12-05"
) -> list[str]:
    return ["promise", "L-1001", "--promise-id", promise_id, "--amount-minor", amount,
            "--due-date", due, *extra]  # fmt: skip


def settle_args(
    *extra: str, settlement_id: str = "s-1", amount: str = "300000", due: str = "2026-12-20"
) -> list[str]:
    return ["settle", "L-1001", "--settlement-id", settlement_id, "--amount-minor", amount,
            "--due-date", due, *extra]  # fmt: skip


def plan_args(*installments: str, plan_id: str | None = "pl-1") -> list[str]:
    args = ["plan", "L-1001"]
    if plan_id is not None:
        args += ["--plan-id", plan_id]
    for installment in installments:
        args += ["--installment", installment]
    return args


# -- sent as the contract says ------------------------------------------------------------------
def test_promise_sends_promise_to_pay_and_prints_the_answer(capsys: Any) -> None:
    client = FakeClient()
    assert asyncio.run(starter.run(promise_args(), connect=connect_to(client))) == 0
    assert client.sent == [
        (
            "collection-L-1001",
            "promise_to_pay",
            {"promise_id": "pr-1", "amount_minor": 100000, "due_date": "2026-12-05"},
        )
    ]
    answer = json.loads(capsys.readouterr().out)
    assert answer == {"promise_id": "pr-1", "accepted": True, "status": "promise_pending"}


def test_plan_sends_the_installments_in_the_order_given() -> None:
    client = FakeClient()
    args = plan_args("2026-12-10:250000", " 2027-01-10 : 250000 ")
    assert asyncio.run(starter.run(args, connect=connect_to(client))) == 0
    assert client.sent == [
        (
            "collection-L-1001",
            "propose_plan",
            {
                "plan_id": "pl-1",
                "installments": [
                    {"due_date": "2026-12-10", "amount_minor": 250000},
                    {"due_date": "2027-01-10", "amount_minor": 250000},
                ],
            },
        )
    ]


def test_plan_from_a_file_and_flags_replace_what_it_holds(tmp_path: Path) -> None:
    plan = {
        "plan_id": "pl-file",
        "installments": [
            {"due_date": "2026-12-10", "amount_minor": 250000},
            {"due_date": "2027-01-10", "amount_minor": 250000},
        ],
    }
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan), encoding="utf-8")
    client = FakeClient()
    code = asyncio.run(
        starter.run(["plan", "L-1001", "--file", str(path)], connect=connect_to(client))
    )
    assert code == 0
    assert client.sent[-1][1:] == ("propose_plan", plan)
    # --plan-id and --installment replace the file's plan_id and all of its installments.
    args = [*plan_args("2026-12-15:500000", plan_id="pl-2"), "--file", str(path)]
    assert asyncio.run(starter.run(args, connect=connect_to(client))) == 0
    assert client.sent[-1][2] == {
        "plan_id": "pl-2",
        "installments": [{"due_date": "2026-12-15", "amount_minor": 500000}],
    }


def test_settle_sends_agree_settlement() -> None:
    client = FakeClient()
    assert asyncio.run(starter.run(settle_args(), connect=connect_to(client))) == 0
    assert client.sent == [
        (
            "collection-L-1001",
            "agree_settlement",
            {"settlement_id": "s-1", "amount_minor": 300000, "due_date": "2026-12-20"},
        )
    ]


@pytest.mark.parametrize(
    ("args", "kind", "message"),
    [
        (promise_args(), "InvalidPromise", "due_date: must be at most 14 days ahead (2026-11-24)"),
        (
            plan_args("2026-12-10:1"),
            "InvalidPlan",
            "installments: must sum to the outstanding amount CNY 5,000.00, not CNY 0.01",
        ),
        (
            settle_args(),
            "InvalidSettlement",
            "amount_minor: must be below the outstanding amount (CNY 3,000.00)",
        ),
    ],
)
def test_a_rejection_by_the_case_exits_2_with_its_type_and_reason(
    args: list[str], kind: str, message: str, capsys: Any
) -> None:
    client = FakeClient(reject=(kind, message))
    assert asyncio.run(starter.run(args, connect=connect_to(client))) == 2
    assert len(client.sent) == 1
    assert capsys.readouterr().err.strip() == f"rejected ({kind}): {message}"


# -- refused before anything is sent ---------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "what", "field"),
    [
        (promise_args(amount="0"), "promise", "amount_minor"),
        (promise_args(amount="-5"), "promise", "amount_minor"),
        (promise_args(amount=str(AMOUNT_MAX + 1)), "promise", "amount_minor"),
        (promise_args(due="2026-12-32"), "promise", "due_date"),
        (promise_args(due="05/12/2026"), "promise", "due_date"),
        (promise_args(due=""), "promise", "due_date"),
        (promise_args(promise_id="p" * 129), "promise", "promise_id"),
        (promise_args(promise_id=""), "promise", "promise_id"),
        (settle_args(amount="0"), "settlement", "amount_minor"),
        (settle_args(due="2026-02-30"), "settlement", "due_date"),
        (settle_args(settlement_id="s" * 129), "settlement", "settlement_id"),
        (plan_args(), "plan", "installments"),
        (plan_args("2026-12-10:100", plan_id=None), "plan", "plan_id"),
        (plan_args("2026-12-10:100", plan_id="p" * 129), "plan", "plan_id"),
        (plan_args("2026-12-10"), "plan", "installments[0]"),
        (plan_args("2026-12-10:100", ":100"), "plan", "installments[1]"),
        (plan_args("2026-12-10:100", "2027-01-10:"), "plan", "installments[1]"),
        (plan_args("2026-12-10:100", "2027-01-10:abc"), "plan", "installments[1].amount_minor"),
        (plan_args("2026-12-10:100", "2027-01-10:2.5"), "plan", "installments[1].amount_minor"),
        (plan_args("2026-12-10:0"), "plan", "installments[0].amount_minor"),
        (plan_args(f"2026-12-10:{AMOUNT_MAX + 1}"), "plan", "installments[0].amount_minor"),
        (plan_args("2026-12-10:100", "10.01.2027:100"), "plan", "installments[1].due_date"),
        (plan_args(*[f"2026-12-10:{n}" for n in range(1, 62)]), "plan", "installments"),
    ],
)
def test_malformed_commitments_exit_2_naming_the_field_without_contacting_temporal(
    args: list[str], what: str, field: str, capsys: Any
) -> None:
    assert asyncio.run(starter.run(args, connect=refuse_connect)) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"invalid {what}: {field}: "), captured.err
    assert captured.out == ""


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ("{not json", "file"),
        ('["pl-1"]', "file"),
        ('{"plan_id": "pl-1"}', "installments"),
        ('{"plan_id": "pl-1", "installments": "2026-12-10:100"}', "installments"),
        ('{"plan_id": "pl-1", "installments": [7]}', "installments[0]"),
        (
            '{"plan_id": "pl-1", "installments": [{"due_date": "2026-12-10"}]}',
            "installments[0].amount_minor",
        ),
        (
            '{"plan_id": 7, "installments": [{"due_date": "2026-12-10", "amount_minor": 1}]}',
            "plan_id",
        ),
    ],
)
def test_a_malformed_plan_file_exits_2_naming_the_field(
    content: str, field: str, tmp_path: Path, capsys: Any
) -> None:
    path = tmp_path / "plan.json"
    path.write_text(content, encoding="utf-8")
    code = asyncio.run(starter.run(["plan", "L-1", "--file", str(path)], connect=refuse_connect))
    assert code == 2
    assert capsys.readouterr().err.startswith(f"invalid plan: {field}: ")


def test_a_missing_plan_file_exits_2(tmp_path: Path, capsys: Any) -> None:
    missing = tmp_path / "nowhere.json"
    code = asyncio.run(starter.run(["plan", "L-1", "--file", str(missing)], connect=refuse_connect))
    assert code == 2
    assert capsys.readouterr().err.startswith("invalid plan: file: cannot read ")


@pytest.mark.parametrize(
    "args",
    [
        ["promise", "L-1", "--promise-id", "pr-1", "--amount-minor", "100"],  # no --due-date
        ["promise", "L-1", "--amount-minor", "100", "--due-date", "2026-12-05"],  # no id
        promise_args(amount="12.50"),
        ["settle", "L-1", "--settlement-id", "s-1", "--due-date", "2026-12-05"],  # no amount
        settle_args(amount="lots"),
        ["plan", "--plan-id", "pl-1", "--installment", "2026-12-10:100"],  # no loan id
        [*promise_args(), "--timeout", "0"],
    ],
)
def test_usage_errors_exit_2(args: list[str], capsys: Any) -> None:
    with pytest.raises(SystemExit) as exit_:
        starter.build_parser().parse_args(args)
    assert exit_.value.code == 2
    assert "usage: starter.py" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["promise", "plan", "settle"])
def test_help_of_each_commitment_command_exits_0(command: str, capsys: Any) -> None:
    with pytest.raises(SystemExit) as exit_:
        starter.build_parser().parse_args([command, "--help"])
    assert exit_.value.code == 0
    assert f"starter.py {command}" in capsys.readouterr().out


def test_through_main_a_bad_installment_exits_2_and_a_good_plan_tries_to_connect() -> None:
    result = run_cli(*plan_args("2026-12-10:250000", "2027-01-10:many"))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("invalid plan: installments[1].amount_minor: ")
    assert "connect" not in result.stderr.lower()
    result = run_cli(*plan_args("2026-12-10:250000", "2027-01-10:250000"))
    assert result.returncode == 1
    assert "connect" in result.stderr.lower()


# -- status shows the commitments ---------------------------------------------------------------
COMMITTED: dict[str, Any] = {
    "loan_id": "L-7",
    "stage": "phone",
    "status": "in_plan",
    "days_past_due": 20,
    "bucket": "M1",
    "currency": "CNY",
    "outstanding_minor": 250000,
    "paid_minor": 250000,
    "overpaid_minor": 0,
    "policy": "default",
    "portfolio": "consumer",
    "holds": [],
    "promise": {
        "promise_id": "pr-1",
        "amount_minor": 100000,
        "due_date": "2026-12-05",
        "state": "broken",
        "paid_toward_minor": 40000,
        "shortfall_minor": 60000,
    },
    "broken_promises": 1,
    "plan": {
        "plan_id": "pl-1",
        "state": "active",
        "began_in_stage": "phone",
        "installments": [
            {
                "due_date": "2026-12-10",
                "amount_minor": 250000,
                "paid_minor": 250000,
                "state": "paid",
            },
            {"due_date": "2027-01-10", "amount_minor": 250000, "paid_minor": 0, "state": "due"},
        ],
    },
    "settlement": {
        "settlement_id": "s-1",
        "amount_minor": 300000,
        "due_date": "2026-11-20",
        "state": "lapsed",
        "forgiven_minor": 0,
    },
    "legal": None,
    "next_action": None,
    "contacts": [],
    "payments": [],
    "rejected_payments": [],
    "rejected_plans": [
        {
            "plan_id": "pl-0",
            "reason": "installments: must sum to the outstanding amount CNY 5,000.00, not CNY 0.01",
        }
    ],
}


def test_status_shows_promise_plan_with_its_installments_and_settlement() -> None:
    text = render.render_status(COMMITTED)
    lines = text.splitlines()
    assert any(
        line.startswith("promise ")
        and line.endswith(
            "pr-1: CNY 1,000.00 due 2026-12-05, broken (paid toward it CNY 400.00), "
            "short by CNY 600.00"
        )
        for line in lines
    ), text
    assert any(line.split() == ["broken", "promises", "1"] for line in lines), text
    assert any(
        line.startswith("plan ")
        and line.endswith(
            "pl-1: active, 1 of 2 installments paid, CNY 2,500.00 of CNY 5,000.00 (began in phone)"
        )
        for line in lines
    ), text
    assert any(
        line.startswith("settlement ") and line.endswith("s-1: CNY 3,000.00 due 2026-11-20, lapsed")
        for line in lines
    ), text
    table_start = lines.index("installments of plan pl-1 (2)")
    assert lines[table_start + 1].split() == ["#", "due_date", "amount", "paid", "state"]
    assert lines[table_start + 2].split() == [
        "1",
        "2026-12-10",
        "CNY",
        "2,500.00",
        "CNY",
        "2,500.00",
        "paid",
    ]
    assert lines[table_start + 3].split() == [
        "2",
        "2027-01-10",
        "CNY",
        "2,500.00",
        "CNY",
        "0.00",
        "due",
    ]
    assert (
        "rejected plans (1)" in text
        and "must sum to the outstanding amount CNY 5,000.00, not CNY 0.01" in text
    )


def test_status_without_commitments_shows_none_of_them() -> None:
    quiet = {
        **COMMITTED,
        "status": "active",
        "promise": None,
        "plan": None,
        "settlement": None,
        "broken_promises": 0,
        "rejected_plans": [],
    }
    text = render.render_status(quiet)
    for word in ("promise", "plan", "settlement", "installments"):
        assert word not in text, text


def test_a_paid_settlement_shows_what_was_forgiven() -> None:
    settled = {
        **COMMITTED,
        "plan": None,
        "settlement": {**COMMITTED["settlement"], "state": "paid", "forgiven_minor": 200000},
    }
    assert "s-1: CNY 3,000.00 due 2026-11-20, paid (forgiven CNY 2,000.00)" in (
        render.render_status(settled)
    )
