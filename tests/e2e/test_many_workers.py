"""Two worker processes share one task queue and one case database; one is killed with SIGKILL
in the middle of the run. The other finishes every case: every payment applied once, every
reminder delivered, and none delivered twice under two idempotency keys (checked where it
matters, at a provider on loopback).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from activities.store import Store
from migrations.tables import ContactAttemptRow, PaymentRow
from tests.helpers.cases import case_input
from tests.helpers.databases import POSTGRES_ENV
from tests.helpers.eventually import eventually
from tests.helpers.temporal import DevServer, start_worker_process

CASES = 12
# The provider answers slowly, so that sends are in flight when the worker dies.
PROVIDER_DELAY_SECONDS = 0.4


@dataclass
class SlowProvider:
    """A provider that delivers each idempotency key once, however often it is asked."""

    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list[str] = field(default_factory=list)  # idempotency keys, as they came
    delivered: dict[str, dict[str, Any]] = field(default_factory=dict)
    in_flight: int = 0


class SlowProviderHandler(BaseHTTPRequestHandler):
    server: SlowProviderServer

    def do_POST(self) -> None:
        provider = self.server.provider
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        key = self.headers["Idempotency-Key"]
        with provider.lock:
            provider.in_flight += 1
        time.sleep(PROVIDER_DELAY_SECONDS)
        with provider.lock:
            provider.in_flight -= 1
            provider.requests.append(key)
            provider.delivered.setdefault(key, payload)
        body = json.dumps({"id": f"msg-{key}"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class SlowProviderServer(ThreadingHTTPServer):
    provider: SlowProvider


@pytest.fixture
def slow_provider() -> Iterator[SlowProvider]:
    server = SlowProviderServer(("127.0.0.1", 0), SlowProviderHandler)
    server.provider = SlowProvider(url=f"http://127.0.0.1:{server.server_address[1]}/send")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.provider
    server.shutdown()
    server.server_close()
    thread.join()


@dataclass(frozen=True)
class SharedDatabase:
    """The case database both worker processes use: its URL, and a store to read it."""

    url: str
    store: Store


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SharedDatabase]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'collections.db'}"
        store = Store.from_url(url)
        store.migrate()
        yield SharedDatabase(url, store)
        store.dispose()
        return
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV}")
    schema = f"test_{uuid.uuid4().hex[:16]}"
    store = Store.from_url(base, schema=schema)
    store.migrate()
    separator = "&" if "?" in base else "?"
    # The worker processes reach the same schema through the URL alone.
    yield SharedDatabase(f"{base}{separator}options=-csearch_path%3D{schema}", store)
    store.dispose()
    admin = Store.from_url(base)
    with admin.engine.begin() as connection:
        connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    admin.dispose()


async def test_a_worker_killed_mid_run_loses_nothing_and_sends_nothing_twice(
    dev_server: DevServer,
    slow_provider: SlowProvider,
    shared_database: SharedDatabase,
    tmp_path: Path,
) -> None:
    task_queue = f"collections-kill-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": dev_server.address,
        "COLLECTIONS_TASK_QUEUE": task_queue,
        "DATABASE_URL": shared_database.url,
        "COLLECTIONS_EVIDENCE_DIR": str(tmp_path / "evidence"),
        "SMS_WEBHOOK_URL": slow_provider.url,
        "EMAIL_WEBHOOK_URL": slow_provider.url,
        "NOTIFY_WEBHOOK_SECRET": "kill-test-secret",
        "NOTIFY_TIMEOUT_SECONDS": "5",
    }
    doomed = await start_worker_process(env)
    survivor = await start_worker_process(env)
    client = dev_server.env.client
    # Four days overdue on the demo clock: a reminder at once, then one every few seconds.
    due = (datetime.now(UTC) - timedelta(days=4)).date()
    handles = []
    for number in range(CASES):
        data = case_input(due, policy="demo", loan_id=f"L-KILL-{uuid.uuid4().hex[:6]}-{number}")
        handles.append(
            await client.start_workflow(
                "CollectionCase", data, id=f"collection-{data['loan_id']}", task_queue=task_queue
            )
        )
    try:
        # Kill one worker while sends are in flight at the provider.
        await eventually(
            lambda: slow_provider.in_flight >= 2 and len(slow_provider.requests) >= CASES,
            seconds=60,
        )
        doomed.send_signal(signal.SIGKILL)
        await doomed.wait()
        # Payment systems go on paying: every case in two parts, the first one retried.
        for number, handle in enumerate(handles):
            for part, amount in (("a", 200000), ("a", 200000), ("b", 300000)):
                answer = await handle.execute_update(
                    "record_payment",
                    {
                        "payment_id": f"pay-{number}-{part}",
                        "amount_minor": amount,
                        "currency": "CNY",
                    },
                )
                assert answer["applied"] or answer["duplicate"]
        # The survivor finishes every case: paid, then lingering 30 demo days, then complete.
        async with asyncio.timeout(240):
            results = await asyncio.gather(*(handle.result() for handle in handles))
    finally:
        for process in (doomed, survivor):
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                await process.wait()

    assert [result["status"] for result in results] == ["paid"] * CASES
    assert all(result["outstanding_minor"] == 0 for result in results)
    assert all(len(result["payments"]) == 2 for result in results)

    with shared_database.store.session() as session:
        payments = session.exec(select(PaymentRow)).all()
        attempts = session.exec(
            select(ContactAttemptRow).where(col(ContactAttemptRow.channel).in_(["sms", "email"]))
        ).all()
    # Nothing lost: each payment once, applied.
    applied = sorted(row.payment_id or "" for row in payments if row.status == "applied")
    assert applied == sorted(f"pay-{n}-{part}" for n in range(CASES) for part in ("a", "b"))
    # Every reminder a case recorded as sent reached the provider under the attempt's own key;
    # a send cut short by the kill was resent under the same key, which the provider delivers
    # once. One the case gave up on (the borrower paid meanwhile) is on record as unconfirmed,
    # never as not sent: the provider may have it. Nothing reached the provider that no case
    # knows of.
    status_of = {row.attempt_id: row.status for row in attempts}
    sent = {attempt_id for attempt_id, status in status_of.items() if status == "sent"}
    assert len(sent) >= CASES
    assert sent <= set(slow_provider.delivered)
    for attempt_id in set(slow_provider.delivered) - sent:
        assert status_of.get(attempt_id) == "unconfirmed", attempt_id
