"""The worker's metrics endpoint on the dev server: the SDK's and the business metrics on one
port."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

import worker as worker_module
from activities import metrics
from activities.store import Store
from tests.helpers.cases import case_input, rows_when
from tests.helpers.metrics import counted, dashboard_metrics
from tests.helpers.temporal import CaseWorld, DevServer, free_port
from workflows.collection_case import CollectionCase


async def test_worker_serves_sdk_and_business_metrics_on_one_port(
    dev_server: DevServer, case_world: CaseWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = {
        "opened": counted("collections_cases_opened_total", policy="default"),
        "sent": counted("collections_contacts_total", channel="sms", result="sent"),
        "skipped": counted(
            "collections_contacts_total", channel="sms", result="skipped_no_contact"
        ),
        "applied": counted("collections_payments_total", currency="CNY", result="applied"),
        "amount": counted(
            "collections_payment_amount_minor_total", currency="CNY", result="applied"
        ),
        "rejected": counted("collections_payments_total", currency="unknown", result="rejected"),
        "closed": counted("collections_cases_closed_total", status="paid"),
        "closed_events": counted("collections_case_events_total", kind="closed"),
    }
    timezone = midday_timezone()
    due = (datetime.now(ZoneInfo(timezone)) - timedelta(days=4)).date()
    paying = case_input(due)
    paying["borrower"]["timezone"] = timezone
    unreachable = case_input(due)
    unreachable["borrower"].update(borrower_id="B-78", timezone=timezone, phone=None)
    client = dev_server.env.client  # the payment system's and the operator's client
    # The worker makes its tables as it starts; made first here, the test can wait on rows
    # from the start.
    schema = Store.from_url(case_world.database_url)
    schema.migrate()
    schema.dispose()

    async with worker_process(dev_server, monkeypatch) as (port, worker_task):
        handles = {}
        for data in (paying, unreachable):
            handles[data["loan_id"]] = await client.start_workflow(
                CollectionCase.run,
                data,
                id=f"collection-{data['loan_id']}",
                task_queue=case_world.task_queue,
            )
        # DPD 4: the SMS reminder of DPD 3 is due at once; the next step is a day away.
        # An attempt is recorded `pending` before it is sent: wait for both to settle.
        settled = "SELECT loan_id, status FROM contact_attempts WHERE status != 'pending'"
        contacts = await rows_when(case_world, settled + " ORDER BY loan_id", 2)
        assert not worker_task.done()
        assert {loan: status for loan, status in contacts} == {
            paying["loan_id"]: "sent",
            unreachable["loan_id"]: "skipped",
        }
        case = handles[paying["loan_id"]]
        answer = await case.execute_update(
            "record_payment",
            {"payment_id": "bank-1", "amount_minor": 500000, "currency": "CNY"},
        )
        assert answer["status"] == "paid"
        await case.signal("payment_received", {"payment_id": "bank-2", "amount_minor": -5})
        await rows_when(case_world, "SELECT 1 FROM payments", 2)
        await rows_when(case_world, "SELECT 1 FROM cases WHERE closed_at IS NOT NULL", 1)
        still_open = unreachable["loan_id"]
        in_reminders = f"SELECT 1 FROM cases WHERE stage = 'reminder' AND loan_id = '{still_open}'"
        await rows_when(case_world, in_reminders, 1)

        response = await scrape(port)
        async with httpx.AsyncClient(timeout=10) as http:
            elsewhere = await http.get(f"http://127.0.0.1:{port}/")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    # prometheus_client's server answers every path with the metrics (its choice, kept for
    # its own compatibility): /metrics is the path to scrape, not the only one that answers.
    assert elsewhere.status_code == 200
    assert "\ncollections_open_cases{" in elsewhere.text
    samples = parse(response.text)
    queue = case_world.task_queue
    # The SDK's own metrics, from the runtime the worker's client was connected with.
    # Under the names the SDK writes, which the dashboard queries: its counters carry no
    # `_total`, so they are served untyped (prometheus_client would add `_total` to a counter).
    assert value(samples, "temporal_request") > 0
    assert "\n# TYPE temporal_request untyped\n" in response.text
    assert "\ntemporal_request{" in response.text
    assert value(samples, "temporal_num_pollers", task_queue=queue) > 0
    assert value(samples, "temporal_worker_task_slots_available", task_queue=queue) > 0
    assert (
        value(samples, "temporal_workflow_task_schedule_to_start_latency_count", task_queue=queue)
        > 0
    )
    assert value(samples, "temporal_activity_schedule_to_start_latency_count", task_queue=queue) > 0
    # Every SDK metric the dashboard charts is served under that name.
    sdk_charted = {name for name in dashboard_metrics() if name.startswith("temporal_")}
    assert sdk_charted
    for name in sdk_charted:
        assert re.search(rf"^{name}(_bucket)?{{", response.text, re.MULTILINE), name
    # The business metrics, by what this test's two cases did.
    after = {
        "opened": value(samples, "collections_cases_opened_total", policy="default"),
        "sent": value(samples, "collections_contacts_total", channel="sms", result="sent"),
        "skipped": value(
            samples, "collections_contacts_total", channel="sms", result="skipped_no_contact"
        ),
        "applied": value(samples, "collections_payments_total", currency="CNY", result="applied"),
        "amount": value(
            samples, "collections_payment_amount_minor_total", currency="CNY", result="applied"
        ),
        "rejected": value(
            samples, "collections_payments_total", currency="unknown", result="rejected"
        ),
        "closed": value(samples, "collections_cases_closed_total", status="paid"),
        "closed_events": value(samples, "collections_case_events_total", kind="closed"),
    }
    assert {name: after[name] - before[name] for name in before} == {
        "opened": 2,
        "sent": 1,
        "skipped": 1,
        "applied": 1,
        "amount": 500000,
        "rejected": 1,
        "closed": 1,
        "closed_events": 1,
    }
    # Open cases by stage come from the case database: the paid case is closed, not counted.
    open_cases = {
        dict(labels)["stage"]: v
        for (name, labels), v in samples.items()
        if name == "collections_open_cases"
    }
    assert open_cases == {stage: 0 for stage in metrics.OPEN_STAGES} | {"reminder": 1}
    # The endpoint left with the worker: its port is free again.
    with pytest.raises(httpx.ConnectError):
        await scrape(port)


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels` (0 if there are none)."""
    wanted = set(labels.items())
    return sum(v for (n, have), v in samples.items() if n == name and wanted <= have)


def midday_timezone() -> str:
    """A real IANA zone in which it is about noon now: inside the default policy's contact
    window (08:00-21:00) whenever the test runs, so the first reminder goes out at once."""
    offset = 12 - datetime.now(UTC).hour  # -11 .. +12 hours from UTC
    # Etc/GMT zones count the other way round: Etc/GMT-8 is UTC+8.
    return "Etc/GMT" + (f"-{offset}" if offset > 0 else f"+{-offset}")


@contextlib.asynccontextmanager
async def worker_process(
    server: DevServer, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[int, asyncio.Task[None]]]:
    """`worker.run_worker` as `worker.py` runs it, configured by the environment, with
    METRICS_PORT set; stopped (as by SIGTERM) afterwards."""
    port = free_port()
    monkeypatch.setenv("TEMPORAL_ADDRESS", server.address)
    monkeypatch.setenv("METRICS_PORT", str(port))
    stop = asyncio.Event()
    task = asyncio.create_task(worker_module.run_worker(stop))
    try:
        yield port, task
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


async def scrape(port: int) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.get(f"http://127.0.0.1:{port}/metrics")


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
