"""`starter.py assign`: the `assign_collector` update from scripts, checked before sending."""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from cli import main as starter
from cli.arguments import ClientFactory
from tests.helpers.cli import refuse_connect


class FakeClient:
    """Stands in for the case: records the updates sent, answers or rejects them."""

    def __init__(self, reject: str | None = None) -> None:
        self.sent: list[tuple[str, str, Any]] = []
        self.reject = reject

    def get_workflow_handle(self, workflow_id: str) -> FakeClient:
        self.workflow_id = workflow_id
        return self

    async def execute_update(self, update: str, arg: Any, **kwargs: Any) -> dict[str, Any]:
        self.sent.append((self.workflow_id, update, arg))
        if self.reject is not None:
            raise WorkflowUpdateFailedError(ApplicationError(self.reject, type="InvalidAssignment"))
        return {**arg, "previous": "bob", "status": "active"}


def connect_to(client: FakeClient) -> ClientFactory:
    async def connect() -> Client:
        return cast(Client, client)

    return connect


def test_assign_sends_the_assignment_and_prints_the_answer(capsys: Any) -> None:
    client = FakeClient()
    args = ["assign", "L-1001", "--to", "ann", "--by", "sue", "--message-id", "re-1"]
    assert asyncio.run(starter.run(args, connect=connect_to(client))) == 0
    message = {"message_id": "re-1", "user_name": "ann", "source": "sue"}
    assert client.sent == [("collection-L-1001", "assign_collector", message)]
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {**message, "previous": "bob", "status": "active"}
    assert captured.err == ""


def test_assign_without_an_id_makes_one_up_and_says_it(capsys: Any) -> None:
    client = FakeClient()
    assert asyncio.run(starter.run(["assign", "L-1001", "--to", "ann"], connect_to(client))) == 0
    [(_, _, message)] = client.sent
    assert message["source"] == "cli"
    assert f"retry with --message-id {message['message_id']}" in capsys.readouterr().err


def test_a_rejected_assignment_exits_2_with_the_cases_reason(capsys: Any) -> None:
    client = FakeClient(reject="message_id: the case is closed")
    args = ["assign", "L-1001", "--to", "ann", "--message-id", "re-1"]
    assert asyncio.run(starter.run(args, connect=connect_to(client))) == 2
    assert capsys.readouterr().err == (
        "rejected (InvalidAssignment): message_id: the case is closed\n"
    )


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        (["--to", " ann"], "user_name"),
        (["--to", "a" * 65], "user_name"),
        (["--to", "ann", "--message-id", ""], "message_id"),
        (["--to", "ann", "--by", ""], "source"),
    ],
)
def test_assign_refuses_what_the_case_would_reject_without_contacting_temporal(
    extra: list[str], field: str, capsys: Any
) -> None:
    assert asyncio.run(starter.run(["assign", "L-1001", *extra], connect=refuse_connect)) == 2
    assert f"invalid assignment: {field}: " in capsys.readouterr().err
