"""Metrics: the worker's one `/metrics` endpoint (the SDK's metrics and the business metrics),
scraped over real HTTP from a worker run as `worker.py` runs it, on the real dev server; the
counters under retried activities on SQLite and PostgreSQL; the open cases by stage counted
in the case database."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import SQLModel

import worker as worker_module
from activities import metrics
from activities.case_activities import CollectionActivities
from activities.notify import WebhookNotifier
from activities.store import Store
from contracts import CaseEvent, CaseRecords, PaymentRecord
from migrations.tables import CaseRow, ContactAttemptRow
from tests.helpers.activity_requests import CASE_ID, LOAN_ID, contact, prepare_request
from tests.helpers.cases import case_input, rows_when
from tests.helpers.paths import PROJECT_DIR
from tests.helpers.temporal import CaseWorld, DevServer, free_port
from workflows.collection_case import CollectionCase

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
DASHBOARD = PROJECT_DIR / "docs" / "grafana-dashboard.json"
METRIC_NAME = re.compile(r"\b(?:collections|temporal)_[a-z_]+")


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


def counted(name: str, **labels: str) -> float:
    """A business metric's value in this process, read from the registry directly."""
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def dashboard_metrics() -> set[str]:
    """The metric names the Grafana dashboard queries, histograms by their base name."""
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ]
    names = {name for expr in expressions for name in METRIC_NAME.findall(expr)}
    return {name.removesuffix("_bucket") for name in names}


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
        contacts = await rows_when(
            case_world, "SELECT loan_id, status FROM contact_attempts ORDER BY loan_id", 2
        )
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
            missing = await http.get(f"http://127.0.0.1:{port}/")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert missing.status_code == 404
    samples = parse(response.text)
    queue = case_world.task_queue
    # The SDK's own metrics, from the runtime the worker's client was connected with.
    # (The parser spells counters with `_total`; Prometheus stores the SDK's names as written,
    # `temporal_request`, which is what the dashboard queries.)
    assert value(samples, "temporal_request_total") > 0
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


def test_the_dashboard_charts_the_business_metrics_from_a_chosen_datasource() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
    served = {"collections_open_cases"} | {
        family.name + ("_total" if family.type == "counter" else "")
        for family in metrics.REGISTRY.collect()
        if family.name.startswith("collections_")
    }
    charted = {name for name in dashboard_metrics() if name.startswith("collections_")}
    assert charted <= served, charted - served
    # Every business metric is on the dashboard.
    assert served - charted == set(), served - charted


def test_metrics_port_must_be_a_port_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METRICS_PORT", "90000")
    with pytest.raises(ValueError, match="METRICS_PORT: must be a port number"):
        worker_module.MetricsEndpoint.from_env()
    monkeypatch.delenv("METRICS_PORT")
    assert worker_module.MetricsEndpoint.from_env() is None


# -- counters under retries ----------------------------------------------------------------


@pytest.fixture
def activities(store: Store, tmp_path: Path) -> Iterator[CollectionActivities]:
    notifier = WebhookNotifier({})  # no provider: the outbox, counted as sent
    yield CollectionActivities(store, tmp_path / "evidence", notifier)
    notifier.close()


def payment(record_id: str, status: str, **changes: Any) -> PaymentRecord:
    base = PaymentRecord(
        case_id=CASE_ID,
        record_id=record_id,
        loan_id=LOAN_ID,
        payment_id=record_id,
        amount_minor=120000,
        currency="CNY",
        status=status,
        received_at="2026-11-06T03:00:00+00:00",
    )
    return replace(base, **changes)


def test_a_retried_activity_counts_its_facts_once(activities: CollectionActivities) -> None:
    names = {
        "opened": ("collections_cases_opened_total", {"policy": "default"}),
        "sms": ("collections_contacts_total", {"channel": "sms", "result": "sent"}),
        "call": ("collections_contacts_total", {"channel": "call", "result": "queued"}),
        "applied": ("collections_payments_total", {"currency": "CNY", "result": "applied"}),
        "amount": (
            "collections_payment_amount_minor_total",
            {"currency": "CNY", "result": "applied"},
        ),
        "rejected": ("collections_payments_total", {"currency": "unknown", "result": "rejected"}),
        "closed": ("collections_cases_closed_total", {"status": "settled"}),
        "holds": ("collections_case_events_total", {"kind": "hold_placed"}),
    }
    before = {key: counted(name, **labels) for key, (name, labels) in names.items()}
    records = CaseRecords(
        case_id=CASE_ID,
        loan_id=LOAN_ID,
        payments=[
            payment("bank-7", "applied"),
            payment("rejected-1", "rejected", amount_minor=None, currency=None),
        ],
        events=[
            CaseEvent(CASE_ID, f"{CASE_ID}:hold_placed:h-1", LOAN_ID, "hold_placed", "2026-11-06"),
            CaseEvent(
                CASE_ID,
                f"{CASE_ID}:closed:settled",
                LOAN_ID,
                "closed",
                "2026-11-06T04:00:00+00:00",
                ref_id="settled",
                detail={"status": "settled"},
            ),
        ],
    )
    for _ in range(2):  # Temporal retries; the second run finds every row and counts nothing
        activities.prepare_case(prepare_request())
        activities.send_notice(contact("run-0001:sms:1"))
        activities.queue_call(contact("run-0001:call:1", channel="call"))
        activities.store_case_records(records)

    after = {key: counted(name, **labels) for key, (name, labels) in names.items()}
    assert {key: after[key] - before[key] for key in names} == {
        "opened": 1,
        "sms": 1,
        "call": 1,
        "applied": 1,
        "amount": 120000,
        "rejected": 1,
        "closed": 1,
        "holds": 1,
    }


def test_a_blocked_attempt_counts_by_its_rule() -> None:
    """What a rule-checking send writes (status `blocked`, the rule in `note`) is counted by
    rule; a note that is no rule name cannot grow the label set."""
    blocked = ContactAttemptRow(
        attempt_id="a-1",
        case_id=CASE_ID,
        loan_id=LOAN_ID,
        channel="sms",
        template="reminder_friendly",
        status="blocked",
        note="opted_out",
        created_at="2026-11-06T03:00:00+00:00",
    )
    before = {
        "opted_out": counted("collections_contacts_blocked_total", channel="sms", rule="opted_out"),
        "other": counted("collections_contacts_blocked_total", channel="sms", rule="other"),
        "all": counted("collections_contacts_total", channel="sms", result="blocked"),
    }
    metrics.observe_attempt(blocked)
    metrics.observe_attempt(blocked.model_copy(update={"note": "Borrower said STOP on 11-01"}))
    metrics.observe_attempt(blocked.model_copy(update={"status": "pending"}))  # no result yet

    assert counted("collections_contacts_blocked_total", channel="sms", rule="opted_out") == (
        before["opted_out"] + 1
    )
    assert counted("collections_contacts_blocked_total", channel="sms", rule="other") == (
        before["other"] + 1
    )
    assert counted("collections_contacts_total", channel="sms", result="blocked") == (
        before["all"] + 2
    )


# -- open cases by stage, from the database ------------------------------------------------


def case_row(case_id: str, stage: str, *, closed: bool = False) -> CaseRow:
    return CaseRow(
        case_id=case_id,
        workflow_id=f"collection-{case_id}",
        loan_id=case_id,
        borrower_id="B-1",
        currency="CNY",
        overdue_amount_minor=1000,
        due_date="2026-11-01",
        policy="default",
        portfolio="consumer",
        timezone="Asia/Shanghai",
        stage=stage,
        status="paid" if closed else "active",
        outstanding_minor=0 if closed else 1000,
        opened_at="2026-11-02T00:00:00+00:00",
        updated_at="2026-11-02T00:00:00+00:00",
        closed_at="2026-11-03T00:00:00+00:00" if closed else None,
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def open_cases(collector: metrics.OpenCasesCollector) -> dict[str, float]:
    return {
        sample.labels["stage"]: sample.value
        for family in collector.collect()
        for sample in family.samples
    }


def test_open_cases_by_stage_are_counted_in_the_database_and_cached(store: Store) -> None:
    # Several workers share one database: whichever wrote a case, every worker counts it.
    for index, stage in enumerate(["grace", "reminder", "reminder", "phone", "legal"]):
        store.insert_if_absent(case_row(f"c-{index}", stage))
    store.insert_if_absent(case_row("c-closed", "closed", closed=True))
    clock = FakeClock()
    collector = metrics.OpenCasesCollector(store, max_age=15, clock=clock)

    zero = {stage: 0.0 for stage in metrics.OPEN_STAGES}
    assert open_cases(collector) == zero | {"grace": 1, "reminder": 2, "phone": 1, "legal": 1}

    store.insert_if_absent(case_row("c-new", "phone"))
    clock.now += 14  # within max_age: the answer of the last query
    assert open_cases(collector)["phone"] == 1
    clock.now += 1
    assert open_cases(collector)["phone"] == 2


def test_open_cases_leave_the_scrape_when_the_database_fails(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'empty.db'}")  # no tables yet
    clock = FakeClock()
    collector = metrics.OpenCasesCollector(store, max_age=15, clock=clock)
    try:
        assert list(collector.collect()) == []
        SQLModel.metadata.create_all(store.engine)
        store.insert_if_absent(case_row("c-1", "field_visit"))
        clock.now += 15  # a failed query waits its turn like any other
        assert open_cases(collector)["field_visit"] == 1
    finally:
        store.dispose()
