"""End to end on the real Temporal dev server: the worker, `starter.py` as an operator
runs it, and a payment system that only speaks Temporal's HTTP API."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from temporalio import workflow
from temporalio.client import WorkflowHandle
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from cli.listing import case_days_past_due
from tests.helpers.cases import case_input
from tests.helpers.eventually import eventually
from tests.helpers.paths import PROJECT_DIR
from tests.helpers.temporal import CaseWorld, DevServer, make_worker, start_worker_process
from workflows.collection_case import CollectionCase
from workflows.search_attributes import CLI_TYPES


async def starter(server: DevServer, *args: str) -> tuple[int, str, str]:
    """Run `python starter.py ARGS` as a separate process, as an operator would."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(PROJECT_DIR / "starter.py"),
        *args,
        cwd=PROJECT_DIR,
        env={**os.environ, "TEMPORAL_ADDRESS": server.address},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_operator_opens_pays_and_sees_paid(
    dev_server: DevServer, case_world: CaseWorld
) -> None:
    loan_id = f"L-E2E-{uuid.uuid4().hex[:6]}"
    due = (datetime.now(UTC) - timedelta(days=5)).date().isoformat()
    async with make_worker(dev_server.env.client, case_world):
        code, out, err = await starter(
            dev_server, "open", "--loan-id", loan_id, "--borrower-id", "B-1",
            "--phone", "+8613800138001", "--timezone", "Asia/Shanghai",
            "--currency", "CNY", "--amount-minor", "120000", "--due-date", due,
        )  # fmt: skip
        assert code == 0, err
        assert loan_id in out
        # Opening again finds the open case instead of starting a second one.
        code, out, err = await starter(
            dev_server, "open", "--loan-id", loan_id, "--borrower-id", "B-1",
            "--currency", "CNY", "--amount-minor", "120000", "--due-date", due,
        )  # fmt: skip
        assert code == 0, err

        code, out, err = await starter(
            dev_server, "pay", loan_id, "--amount-minor", "120000", "--currency", "CNY",
            "--payment-id", "bank-0001",
        )  # fmt: skip
        assert code == 0, err
        answer = json.loads(out)
        assert (answer["status"], answer["outstanding_minor"]) == ("paid", 0)
        assert (answer["applied"], answer["duplicate"]) == (True, False)
        # A closed case lingers (it does not complete at once): the payment system's retry of
        # the payment that closed it gets the first answer, not "no open case".
        code, out, err = await starter(
            dev_server, "pay", loan_id, "--amount-minor", "120000", "--currency", "CNY",
            "--payment-id", "bank-0001",
        )  # fmt: skip
        assert code == 0, err
        assert json.loads(out)["duplicate"] is True

        code, out, err = await starter(dev_server, "status", loan_id)
        assert code == 0, err
        assert "paid" in out and "CNY 1,200.00" in out
        code, out, err = await starter(dev_server, "status", loan_id, "--json")
        assert code == 0, err
        status = json.loads(out)
        assert status["status"] == "paid" and status["outstanding_minor"] == 0
        assert [p["payment_id"] for p in status["payments"]] == ["bank-0001"]

        # Visibility is eventually consistent: the list catches up within seconds.
        await eventually(
            lambda: starter(dev_server, "list", "--status", "paid"),
            lambda answer: loan_id in answer[1],
            seconds=15,
        )


async def test_invalid_case_is_refused_before_starting(dev_server: DevServer) -> None:
    code, _, err = await starter(
        dev_server, "open", "--loan-id", "L-BAD", "--borrower-id", "B-1",
        "--currency", "RMB1", "--amount-minor", "100", "--due-date", "2026-01-01",
    )  # fmt: skip
    assert code == 2
    assert "currency" in err
    with pytest.raises(Exception, match="not found"):
        await dev_server.env.client.get_workflow_handle("collection-L-BAD").describe()


async def test_setup_finds_every_search_attribute_registered(dev_server: DevServer) -> None:
    code, out, err = await starter(dev_server, "setup")
    assert code == 0, err
    for name, kind in CLI_TYPES.items():
        assert f"already present {name} ({kind})" in out
    assert f"added 0, already present {len(CLI_TYPES)}" in out


async def signal_over_http(server: DevServer, workflow_id: str, payment: dict[str, Any]) -> int:
    url = (
        f"http://127.0.0.1:{server.http_port}/api/v1/namespaces/default/workflows/"
        f"{workflow_id}/signal/payment_received"
    )
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(url, json={"input": [payment]})
    assert response.status_code == 200, response.text
    return response.status_code


async def test_payment_signal_over_http_api_applies_once(
    dev_server: DevServer, case_world: CaseWorld
) -> None:
    due = (datetime.now(UTC) - timedelta(days=3)).date()
    data = case_input(due)
    workflow_id = f"collection-{data['loan_id']}"
    async with make_worker(dev_server.env.client, case_world):
        handle = await dev_server.env.client.start_workflow(
            CollectionCase.run, data, id=workflow_id, task_queue=case_world.task_queue
        )
        payment = {"payment_id": "psp-42", "amount_minor": 200000, "currency": "CNY",
                   "source": "psp-webhook"}  # fmt: skip
        # A payment system retries: the same signal arrives twice.
        await signal_over_http(dev_server, workflow_id, payment)
        await signal_over_http(dev_server, workflow_id, payment)
        await signal_over_http(dev_server, workflow_id, {"payment_id": "psp-43"})
        status = await eventually(
            lambda: handle.query(CollectionCase.status),
            lambda status: status["payments"] and status["rejected_payments"],
            seconds=10,
        )
        assert status["paid_minor"] == 200000
        assert status["outstanding_minor"] == 300000
        assert [p["payment_id"] for p in status["payments"]] == ["psp-42"]
        assert status["rejected_payments"] == [
            {"payment_id": "psp-43", "reason": "amount_minor: is required"}
        ]
        await handle.terminate("test over")


async def test_import_twice_opens_each_case_once(
    dev_server: DevServer, case_world: CaseWorld
) -> None:
    portfolio = PROJECT_DIR / "data" / "demo_portfolio.csv"
    loans = portfolio.read_text().count("\nL-")
    async with make_worker(dev_server.env.client, case_world):
        code, out, err = await starter(dev_server, "import", str(portfolio))
        assert code == 0, err
        assert f"opened {loans}," in out
        code, out, err = await starter(dev_server, "import", str(portfolio))
        assert code == 0, err
        assert "opened 0," in out and f"already open {loans}," in out
        count = await dev_server.env.client.count_workflows(
            "WorkflowType = 'CollectionCase' AND LoanId = 'L-1001'"
        )
        assert count.count == 1
        async for execution in dev_server.env.client.list_workflows(
            "WorkflowType = 'CollectionCase' AND ExecutionStatus = 'Running'"
        ):
            await dev_server.env.client.get_workflow_handle(execution.id).terminate("test over")


async def test_worker_process_stops_cleanly_on_sigterm(
    dev_server: DevServer, case_world: CaseWorld
) -> None:
    process = await start_worker_process({**os.environ, "TEMPORAL_ADDRESS": dev_server.address})
    process.send_signal(signal.SIGTERM)
    _, rest = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0
    events = [json.loads(line)["event"] for line in rest.decode().splitlines()]
    assert events[-1] == "worker stopped"


# -- list: days past due from DueDate ------------------------------------------------------------
async def test_list_counts_and_filters_days_past_due_by_due_date(
    dev_server: DevServer, case_world: CaseWorld
) -> None:
    # No worker: the cases are only started, which is enough for visibility (the start sets
    # the search attributes), and keeps the workflow's own updates out of this test.
    portfolio = f"dpd-{uuid.uuid4().hex[:8]}"
    today = datetime.now(UTC).date()
    loans = {f"L-DPD-{days}-{portfolio}": days for days in (10, 30, 40)}
    for loan_id, days in loans.items():
        code, _, err = await starter(
            dev_server, "open", "--loan-id", loan_id, "--borrower-id", "B-1",
            "--timezone", "UTC", "--currency", "CNY", "--amount-minor", "1000",
            "--due-date", (today - timedelta(days=days)).isoformat(), "--portfolio", portfolio,
        )  # fmt: skip
        assert code == 0, err

    async def listed(*filters: str) -> dict[str, str]:
        """loan id -> its dpd column, once visibility shows what the filters should find."""
        code, out, err = await starter(dev_server, "list", "--portfolio", portfolio, *filters)
        assert code == 0, err
        rows = [line.split() for line in out.splitlines()[1:-1]]
        return {row[0]: row[4] for row in rows}

    # Visibility is eventually consistent: wait until all three are listed.
    everything = await eventually(listed, lambda listing: len(listing) == 3, seconds=15)
    assert everything == {loan_id: str(days) for loan_id, days in loans.items()}
    at_least_30 = await listed("--min-dpd", "30")
    assert sorted(at_least_30.values()) == ["30", "40"]
    assert list((await listed("--max-dpd", "29")).values()) == ["10"]
    assert list((await listed("--min-dpd", "11", "--max-dpd", "39")).values()) == ["30"]
    for loan_id in loans:
        await dev_server.env.client.get_workflow_handle(f"collection-{loan_id}").terminate("over")


# A demo day is 2 s: the stand-in case below hands over after a few of them.
HAND_OVER_AFTER = timedelta(seconds=10)


@workflow.defn(name="CollectionCase", sandboxed=False)
class CaseThatContinuesAsNew:
    """Stands in for a case that continues as new (as a flooded case does) after a while,
    keeping its memo and search attributes, and then waits."""

    @workflow.run
    async def run(self, case: dict[str, Any], carried: dict[str, Any] | None = None) -> None:
        if carried is None:
            await workflow.sleep(HAND_OVER_AFTER)
            workflow.continue_as_new(args=[case, {"opened_at": workflow.now().isoformat()}])
        await workflow.wait_condition(lambda: False)


async def test_list_counts_a_demo_case_from_its_opening_after_it_continued_as_new(
    dev_server: DevServer, case_world: CaseWorld
) -> None:
    client = dev_server.env.client
    portfolio = f"can-{uuid.uuid4().hex[:8]}"
    loan_id = f"L-CAN-{portfolio}"
    due = datetime.now(UTC).date() - timedelta(days=3)
    case = client.get_workflow_handle(f"collection-{loan_id}")
    async with Worker(
        client,
        task_queue=case_world.task_queue,
        workflows=[CaseThatContinuesAsNew],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        code, _, err = await starter(
            dev_server, "open", "--loan-id", loan_id, "--borrower-id", "B-1",
            "--timezone", "UTC", "--currency", "CNY", "--amount-minor", "1000",
            "--due-date", due.isoformat(), "--policy", "demo", "--portfolio", portfolio,
        )  # fmt: skip
        assert code == 0, err
        first_run_id = (await case.describe()).run_id
        opened = (await case.describe()).start_time
        assert opened is not None

        async def running_run() -> list[str]:
            query = f"WorkflowId = '{case.id}' AND ExecutionStatus = 'Running'"
            return [execution.run_id async for execution in client.list_workflows(query)]

        # Visibility shows the run that continued the case.
        await eventually(
            running_run, lambda runs: bool(runs) and runs != [first_run_id], seconds=30
        )
        before = datetime.now(UTC)
        code, out, err = await starter(dev_server, "list", "--portfolio", portfolio)
        after = datetime.now(UTC)
        assert code == 0, err
        rows = [line.split() for line in out.splitlines()[1:-1]]
        # One row for the case, not one for each of its runs.
        assert [row[0] for row in rows] == [loan_id], out
        # Its days past due count from the case's opening, as the case's own clock does, not
        # from the start of the run that continued it.
        due_attribute = datetime.combine(due, time(0), tzinfo=UTC)
        earliest = case_days_past_due(due_attribute, "demo", opened, before)
        latest = case_days_past_due(due_attribute, "demo", opened, after)
        assert earliest is not None and latest is not None
        assert earliest >= 3 + HAND_OVER_AFTER.total_seconds() // 2
        assert earliest <= int(rows[0][4]) <= latest, out
        await case.terminate("test over")


# -- pay: a missing worker, a slow case, a closed case ----------------------------------------
@workflow.defn(name="NotACollectionCase")
class NotACollectionCase:
    """Registered by a worker that polls the case's task queue but cannot run cases."""

    @workflow.run
    async def run(self) -> None:
        return None


async def start_case_without_worker(
    server: DevServer, world: CaseWorld
) -> tuple[str, WorkflowHandle[Any, Any]]:
    data = case_input(datetime.now(UTC).date() - timedelta(days=3))
    handle = await server.env.client.start_workflow(
        "CollectionCase", data, id=f"collection-{data['loan_id']}", task_queue=world.task_queue
    )
    return data["loan_id"], handle


PAY = ("--amount-minor", "1000", "--currency", "CNY", "--payment-id", "bank-77", "--timeout", "2")


async def test_pay_without_a_worker_says_to_start_one(
    dev_server: DevServer, case_world: CaseWorld
) -> None:
    loan_id, handle = await start_case_without_worker(dev_server, case_world)
    started = asyncio.get_running_loop().time()
    code, _, err = await starter(dev_server, "pay", loan_id, *PAY)
    assert asyncio.get_running_loop().time() - started < 20  # --timeout 2, not the default 30
    assert code == 1, err
    assert f"no worker is polling task queue {case_world.task_queue}" in err
    assert "start one with `make worker`" in err
    assert "resending the same payment_id (bank-77) is safe (it is applied once)" in err
    assert "Traceback" not in err
    # A query needs a worker as much as an update does.
    code, _, err = await starter(dev_server, "status", loan_id, "--timeout", "2")
    assert code == 1, err
    assert f"no worker is polling task queue {case_world.task_queue}" in err
    await handle.terminate("test over")


async def test_pay_to_a_slow_case_says_it_may_be_applied_and_resending_is_safe(
    dev_server: DevServer, case_world: CaseWorld
) -> None:
    loan_id, handle = await start_case_without_worker(dev_server, case_world)
    # A worker polls the queue but cannot run the case (as a wrong deployment would): the
    # server sees a worker, the case never answers.
    async with Worker(
        dev_server.env.client,
        task_queue=case_world.task_queue,
        workflows=[NotACollectionCase],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        code, _, err = await starter(dev_server, "pay", loan_id, *PAY)
    assert code == 1, err
    assert f"{loan_id}: the case did not answer within 2 s" in err
    assert "the payment may or may not have been applied" in err
    assert "resending the same payment_id (bank-77) is safe (it is applied once)" in err
    assert "no worker is polling" not in err
    await handle.terminate("test over")


async def test_pay_to_a_closed_case_says_it_takes_no_more_messages(
    dev_server: DevServer, case_world: CaseWorld
) -> None:
    loan_id, handle = await start_case_without_worker(dev_server, case_world)
    await handle.terminate("closed for the test")
    code, _, err = await starter(dev_server, "pay", loan_id, *PAY)
    assert code == 1, err
    assert f"case collection-{loan_id} is closed (terminated) and no longer takes messages" in err

    code, _, err = await starter(dev_server, "pay", "L-NEVER-OPENED", *PAY)
    assert code == 1, err
    assert "L-NEVER-OPENED: no open case collection-L-NEVER-OPENED" in err
    assert "closed" not in err


# -- promises, plans and settlements from the command line ---------------------------------------
async def open_prepared_case(server: DevServer, loan_id: str, due: date) -> dict[str, Any]:
    """Open a case with `starter.py open` and return its status once it is prepared: until then
    it cannot judge a commitment (it does not know its policy yet)."""
    code, _, err = await starter(
        server, "open", "--loan-id", loan_id, "--borrower-id", "B-1",
        "--timezone", "Asia/Shanghai", "--currency", "CNY", "--amount-minor", "500000",
        "--due-date", due.isoformat(),
    )  # fmt: skip
    assert code == 0, err
    _, out, _ = await eventually(
        lambda: starter(server, "status", loan_id, "--json"),
        lambda answer: answer[0] == 0 and json.loads(answer[1])["stage"] != "preparation",
        seconds=30,
    )
    return dict(json.loads(out))


async def status_json(server: DevServer, loan_id: str) -> dict[str, Any]:
    code, out, err = await starter(server, "status", loan_id, "--json")
    assert code == 0, err
    return dict(json.loads(out))


async def test_operator_records_a_promise_then_an_installment_plan(
    dev_server: DevServer, case_world: CaseWorld
) -> None:
    loan_id = f"L-E2E-{uuid.uuid4().hex[:6]}"
    due = (datetime.now(UTC) - timedelta(days=20)).date()
    async with make_worker(dev_server.env.client, case_world):
        status = await open_prepared_case(dev_server, loan_id, due)
        # Dates are the case's calendar dates: its due date plus its days past due is today.
        today = due + timedelta(days=status["days_past_due"])

        # Too far ahead: the case's policy refuses it and records nothing.
        code, _, err = await starter(
            dev_server, "promise", loan_id, "--promise-id", "pr-0", "--amount-minor", "100000",
            "--due-date", (today + timedelta(days=20)).isoformat(),
        )  # fmt: skip
        assert code == 2, err
        assert "rejected (InvalidPromise): due_date: must be at most 14 days ahead" in err
        assert (await status_json(dev_server, loan_id))["promise"] is None

        promised = ("promise", loan_id, "--promise-id", "pr-1", "--amount-minor", "100000",
                    "--due-date", (today + timedelta(days=3)).isoformat())  # fmt: skip
        code, out, err = await starter(dev_server, *promised)
        assert code == 0, err
        answer = json.loads(out)
        assert answer == {"promise_id": "pr-1", "accepted": True, "status": "promise_pending"}
        # Sent again (an operator retrying): the first answer, nothing recorded twice.
        code, out, err = await starter(dev_server, *promised)
        assert (code, json.loads(out)) == (0, answer), err
        status = await status_json(dev_server, loan_id)
        assert status["status"] == "promise_pending"
        assert status["promise"] == {
            "promise_id": "pr-1",
            "amount_minor": 100000,
            "due_date": (today + timedelta(days=3)).isoformat(),
            "state": "pending",
            "paid_toward_minor": 0,
            "shortfall_minor": 0,
        }

        first, second = today + timedelta(days=5), today + timedelta(days=35)
        plan = ("plan", loan_id, "--plan-id", "pl-1",
                "--installment", f"{first.isoformat()}:200000",
                "--installment", f"{second.isoformat()}:200000")  # fmt: skip
        code, _, err = await starter(dev_server, *plan)
        assert code == 2, err
        assert "rejected (InvalidPlan): plan_id: promise 'pr-1' is still pending" in err

        # The promise kept: collection resumes, 400000 outstanding.
        code, out, err = await starter(
            dev_server, "pay", loan_id, "--amount-minor", "100000", "--currency", "CNY",
            "--payment-id", "bank-pr-1",
        )  # fmt: skip
        assert code == 0, err
        status = await status_json(dev_server, loan_id)
        assert (status["status"], status["promise"]["state"]) == ("active", "kept")
        assert status["outstanding_minor"] == 400000

        # Installments that do not sum to what is owed: refused, nothing recorded.
        code, _, err = await starter(
            dev_server, "plan", loan_id, "--plan-id", "pl-0",
            "--installment", f"{first.isoformat()}:100000",
        )  # fmt: skip
        assert code == 2, err
        assert "rejected (InvalidPlan): installments: must sum to the outstanding amount" in err
        code, out, err = await starter(dev_server, *plan)
        assert code == 0, err
        assert json.loads(out) == {"plan_id": "pl-1", "accepted": True, "status": "in_plan"}

        status = await status_json(dev_server, loan_id)
        assert status["status"] == "in_plan"
        assert status["plan"]["plan_id"] == "pl-1"
        assert status["plan"]["state"] == "active"
        assert status["plan"]["installments"] == [
            {"due_date": first.isoformat(), "amount_minor": 200000, "paid_minor": 0,
             "state": "due"},
            {"due_date": second.isoformat(), "amount_minor": 200000, "paid_minor": 0,
             "state": "due"},
        ]  # fmt: skip
        code, out, err = await starter(dev_server, "status", loan_id)
        assert code == 0, err
        assert "installments of plan pl-1 (2)" in out
        assert "pl-1: active, 0 of 2 installments paid, CNY 0.00 of CNY 4,000.00" in out

        # A settlement while the plan runs: refused by the case.
        code, _, err = await starter(
            dev_server, "settle", loan_id, "--settlement-id", "s-1", "--amount-minor", "300000",
            "--due-date", first.isoformat(),
        )  # fmt: skip
        assert code == 2, err
        assert "rejected (InvalidSettlement): settlement_id: an installment plan is active" in err
        await dev_server.env.client.get_workflow_handle(f"collection-{loan_id}").terminate("over")


async def test_operator_agrees_a_settlement_and_its_payment_settles_the_case(
    dev_server: DevServer, case_world: CaseWorld
) -> None:
    loan_id = f"L-E2E-{uuid.uuid4().hex[:6]}"
    due = (datetime.now(UTC) - timedelta(days=45)).date()
    async with make_worker(dev_server.env.client, case_world):
        status = await open_prepared_case(dev_server, loan_id, due)
        today = due + timedelta(days=status["days_past_due"])
        code, out, err = await starter(
            dev_server, "settle", loan_id, "--settlement-id", "s-1", "--amount-minor", "300000",
            "--due-date", (today + timedelta(days=10)).isoformat(),
        )  # fmt: skip
        assert code == 0, err
        assert json.loads(out) == {"settlement_id": "s-1", "accepted": True, "status": "active"}
        status = await status_json(dev_server, loan_id)
        assert status["settlement"]["state"] == "pending"

        code, out, err = await starter(
            dev_server, "pay", loan_id, "--amount-minor", "300000", "--currency", "CNY",
            "--payment-id", "bank-s-1",
        )  # fmt: skip
        assert code == 0, err
        status = await status_json(dev_server, loan_id)
        assert status["status"] == "settled"
        assert (status["settlement"]["state"], status["settlement"]["forgiven_minor"]) == (
            "paid",
            200000,
        )
        code, out, err = await starter(dev_server, "status", loan_id)
        assert code == 0, err
        assert "s-1: CNY 3,000.00 due" in out and "paid (forgiven CNY 2,000.00)" in out
        await dev_server.env.client.get_workflow_handle(f"collection-{loan_id}").terminate("over")
