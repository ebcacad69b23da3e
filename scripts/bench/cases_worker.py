"""The worker the benchmark's cases run on: `worker.py` as deployed, with WORKER_PROCESSES=N
(N worker processes under one parent). BENCH_WORKER_PROCESSES lists the N to run, comma
separated; by default 1 and the usable cores, so that one run sets them side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import structlog
from bench_cases import CASES_QUEUE, POLL_SECONDS
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from runtime.worker_processes import available_cores

log = structlog.get_logger("bench")

PROCESSES_ENV = "BENCH_WORKER_PROCESSES"
WORKER_SCRIPT = Path(__file__).resolve().parents[2] / "worker.py"
START_SECONDS = 120
STOP_SECONDS = 60


def worker_processes() -> list[int]:
    """The numbers of worker processes to run, from BENCH_WORKER_PROCESSES (default: 1 and the
    usable cores)."""
    raw = os.environ.get(PROCESSES_ENV, "").strip()
    if not raw:
        return sorted({1, available_cores()})
    counts = [part.strip() for part in raw.split(",")]
    if not all(count.isdigit() and int(count) >= 1 for count in counts):
        raise ValueError(
            f"{PROCESSES_ENV}: whole numbers of at least 1, comma separated, not {raw!r}"
        )
    return sorted({int(count) for count in counts})


def described(processes: int) -> dict[str, object]:
    """How the cases' worker ran, for the report."""
    return {"processes": processes, "run_as": f"worker.py with WORKER_PROCESSES={processes}"}


@contextlib.asynccontextmanager
async def cases_worker_running(client: Client, processes: int) -> AsyncIterator[list[int]]:
    """`worker.py` with `processes` processes polling the cases' task queue (on the
    benchmark's dev server, database and settings, all from the environment); yields the
    worker processes' pids."""
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": client.namespace,
        "COLLECTIONS_TASK_QUEUE": CASES_QUEUE,
        "WORKER_PROCESSES": str(processes),
    }
    # Its log goes to stderr beside the benchmark's; at INFO it would drown it.
    env.setdefault("LOG_LEVEL", "WARNING")
    parent = await asyncio.create_subprocess_exec(sys.executable, str(WORKER_SCRIPT), env=env)
    try:
        pids = await until_polling(client, processes, parent)
        log.info("worker processes polling", processes=processes)
        yield pids
    finally:
        if parent.returncode is None:
            parent.send_signal(signal.SIGTERM)
        status = await asyncio.wait_for(parent.wait(), STOP_SECONDS)
        log.info("worker processes stopped", status=status)


async def until_polling(
    client: Client, processes: int, parent: asyncio.subprocess.Process
) -> list[int]:
    """Wait until `processes` workers (by their `pid@host` identity) poll the cases' queue;
    their pids."""
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=CASES_QUEUE),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    deadline = time.monotonic() + START_SECONDS
    while True:
        if parent.returncode is not None:
            raise RuntimeError(f"worker.py exited with {parent.returncode} as it started")
        answer = await client.workflow_service.describe_task_queue(request)
        identities = {poller.identity for poller in answer.pollers}
        if len(identities) >= processes:
            return sorted(int(identity.split("@", 1)[0]) for identity in identities)
        if time.monotonic() > deadline:
            raise RuntimeError(f"{processes} worker processes not polling in {START_SECONDS} s")
        await asyncio.sleep(POLL_SECONDS)
