"""`starter.py adjust`: flags, local validation, and the answer or rejection printed.

No Temporal server: a command refused locally must not even connect (`refuse_connect`), and a
fake client stands in for the case where one is sent.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from cli import main as starter
from cli.arguments import ClientFactory
from domain.fields import AMOUNT_MAX
from tests.helpers.cli import refuse_connect, run_cli

ANSWER = {"adjustment_id": "adj-1", "applied": True, "outstanding_minor": 495000}
REJECTION = "InvalidAdjustment"


class FakeCase:
    """A case's handle: records the updates it receives and answers (or rejects) them."""

    def __init__(self, client: FakeClient) -> None:
        self.client = client

    async def execute_update(self, update: str, arg: Any, **kwargs: Any) -> dict[str, Any]:
        self.client.sent.append((update, arg))
        if self.client.reject is not None:
            raise WorkflowUpdateFailedError(ApplicationError(self.client.reject, type=REJECTION))
        return {**ANSWER, "adjustment_id": arg["adjustment_id"], "status": "active"}


class FakeClient:
    def __init__(self, reject: str | None = None) -> None:
        self.sent: list[tuple[str, Any]] = []
        self.reject = reject
        self.workflow_ids: list[str] = []

    def get_workflow_handle(self, workflow_id: str) -> FakeCase:
        self.workflow_ids.append(workflow_id)
        return FakeCase(self)


def connect_to(client: FakeClient) -> ClientFactory:
    async def connect() -> Client:
        return cast(Client, client)

    return connect


def adjust_args(
    *extra: str, component: str = "fees", amount: str = "-5000", adjustment_id: str = "adj-1"
) -> list[str]:
    return ["adjust", "L-1001", "--adjustment-id", adjustment_id, "--component", component,
            "--amount-minor", amount, *extra]  # fmt: skip


def test_adjust_sends_the_adjustment_and_prints_the_answer(capsys: Any) -> None:
    client = FakeClient()
    args = adjust_args("--reason", "fee waived after complaint C-12")
    assert asyncio.run(starter.run(args, connect=connect_to(client))) == 0
    assert client.workflow_ids == ["collection-L-1001"]
    assert client.sent == [
        (
            "adjust_balance",
            {
                "adjustment_id": "adj-1",
                "component": "fees",
                "amount_minor": -5000,
                "reason": "fee waived after complaint C-12",
            },
        )
    ]
    assert json.loads(capsys.readouterr().out) == {**ANSWER, "status": "active"}


@pytest.mark.parametrize("component", ["principal", "interest", "fees", "penalty"])
def test_adjust_takes_each_part_an_increase_and_no_reason(component: str) -> None:
    client = FakeClient()
    args = ["adjust", "L-1001", "--adjustment-id", "adj-2", "--component", component,
            "--amount", "1200"]  # fmt: skip
    assert asyncio.run(starter.run(args, connect=connect_to(client))) == 0
    [(_, arg)] = client.sent
    assert arg == {"adjustment_id": "adj-2", "component": component, "amount_minor": 1200}


def test_a_rejected_adjustment_exits_2_with_the_cases_reason(capsys: Any) -> None:
    client = FakeClient(reject="amount_minor: would take the fees below zero")
    assert asyncio.run(starter.run(adjust_args(), connect=connect_to(client))) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        "rejected (InvalidAdjustment): amount_minor: would take the fees below zero\n"
    )
    assert captured.out == ""


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (adjust_args(amount="0"), "amount_minor"),
        (adjust_args(amount=str(AMOUNT_MAX + 1)), "amount_minor"),
        (adjust_args(amount=str(-AMOUNT_MAX - 1)), "amount_minor"),
        (adjust_args("--reason", "r" * 2001), "reason"),
        (adjust_args(adjustment_id=""), "adjustment_id"),
    ],
)
def test_adjust_refuses_what_the_case_would_reject_without_contacting_temporal(
    args: list[str], field: str, capsys: Any
) -> None:
    assert asyncio.run(starter.run(args, connect=refuse_connect)) == 2
    assert capsys.readouterr().err.startswith(f"invalid adjustment: {field}: ")


def test_adjust_at_the_bounds_is_sent() -> None:
    for amount in (AMOUNT_MAX, -AMOUNT_MAX):
        client = FakeClient()
        args = adjust_args(amount=str(amount))
        assert asyncio.run(starter.run(args, connect=connect_to(client))) == 0
        assert client.sent[0][1]["amount_minor"] == amount


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (adjust_args(component="capital"), "invalid choice: 'capital'"),
        (adjust_args(amount="12.50"), "invalid int value: '12.50'"),
        (adjust_args()[:-2], "the following arguments are required: --amount-minor"),
    ],
)
def test_adjust_usage_errors_exit_2_through_main(args: list[str], message: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "connect" not in result.stderr.lower()
