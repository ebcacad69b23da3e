"""The worker the benchmark's cases run on: the project's worker in this process (the default),
or, with BENCH_WORKER_PROCESSES=N, `worker.py` as deployed with WORKER_PROCESSES=N (N worker
processes under one parent), so that one run can be set beside another with a different N.
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
from temporalio.worker import Worker

log = structlog.get_logger("bench")

PROCESSES_ENV = "BENCH_WORKER_PROCESSES"
WORKER_SCRIPT = Path(__file__).resolve().parents[2] / "worker.py"
START_SECONDS = 120
STOP_SECONDS = 60


def worker_processes() -> int | None:
    """BENCH_WORKER_PROCESSES as a number of processes; None (unset): the worker in-process."""
    raw = os.environ.get(PROCESSES_ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{PROCESSES_ENV}: must be a whole number of at least 1, not {raw!r}")
    return int(raw)


def described(processes: int | None) -> dict[str, object]:
    """How the cases' worker ran, for the report."""
    if processes is None:
        return {"processes": 1, "run_as": "create_worker in the benchmark's process"}
    return {"processes": processes, "run_as": f"worker.py with WORKER_PROCESSES={processes}"}


@contextlib.asynccontextmanager
async def cases_worker_running(
    client: Client, in_process: Worker, processes: int | None
) -> AsyncIterator[None]:
    """`in_process` running, or `worker.py` with `processes` processes polling the cases' task
    queue (on the benchmark's dev server, database and settings, all from the environment)."""
    if processes is None:
        async with in_process:
            yield
        return
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
        await until_polling(client, processes, parent)
        log.info("worker processes polling", processes=processes)
        yield
    finally:
        if parent.returncode is None:
            parent.send_signal(signal.SIGTERM)
        status = await asyncio.wait_for(parent.wait(), STOP_SECONDS)
        log.info("worker processes stopped", status=status)


async def until_polling(client: Client, processes: int, parent: asyncio.subprocess.Process) -> None:
    """Wait until `processes` workers (by their `pid@host` identity) poll the cases' queue."""
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
        if len({poller.identity for poller in answer.pollers}) >= processes:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{processes} worker processes not polling in {START_SECONDS} s")
        await asyncio.sleep(POLL_SECONDS)
