"""End to end on the real Temporal dev server: the worker, `starter.py` as an operator
runs it, and a payment system that only speaks Temporal's HTTP API."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.temporal_fixtures import CaseWorld, DevServer, make_worker
from tests.test_workflow import case_input
from workflows.collection_case import CollectionCase
from workflows.search_attributes import CLI_TYPES

PROJECT_DIR = Path(__file__).resolve().parent.parent


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
        handle = dev_server.env.client.get_workflow_handle(f"collection-{loan_id}")
        result = await handle.result()
        assert result["status"] == "paid"

        code, out, err = await starter(dev_server, "status", loan_id)
        assert code == 0, err
        assert "paid" in out and "CNY 1,200.00" in out
        code, out, err = await starter(dev_server, "status", loan_id, "--json")
        assert code == 0, err
        status = json.loads(out)
        assert status["status"] == "paid" and status["outstanding_minor"] == 0
        assert [p["payment_id"] for p in status["payments"]] == ["bank-0001"]

        # Visibility is eventually consistent: the list catches up within seconds.
        for _ in range(30):
            code, out, err = await starter(dev_server, "list", "--status", "paid")
            if loan_id in out:
                break
            await asyncio.sleep(0.5)
        assert loan_id in out, out


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
        for _ in range(50):
            status = await handle.query(CollectionCase.status)
            if status["payments"] and status["rejected_payments"]:
                break
            await asyncio.sleep(0.2)
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
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(PROJECT_DIR / "worker.py"),
        cwd=PROJECT_DIR,
        env={**os.environ, "TEMPORAL_ADDRESS": dev_server.address},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    started = await asyncio.wait_for(process.stderr.readline(), timeout=30)
    assert json.loads(started)["event"] == "worker started"
    process.send_signal(signal.SIGTERM)
    _, rest = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0
    events = [json.loads(line)["event"] for line in rest.decode().splitlines()]
    assert events[-1] == "worker stopped"
