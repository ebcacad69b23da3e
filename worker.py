"""The worker: runs every collection case and activity on the task queue.

`create_worker(client)` is the embedding API of the contract; `main()` is the process
behind `make run` and deployments, configured from the environment.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import structlog
from temporalio.client import Client
from temporalio.worker import Worker

import settings
from activities.case_activities import CollectionActivities
from workflows.collection_case import CollectionCase

# The activities are synchronous (sqlmodel, file writes); they run on these threads.
ACTIVITY_THREADS = 16
GRACEFUL_SHUTDOWN = timedelta(seconds=10)


def create_worker(client: Client, *, task_queue: str | None = None) -> Worker:
    """A worker for every workflow and activity of the system, configured from the environment."""
    activities = CollectionActivities.from_env()
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue(),
        workflows=[CollectionCase],
        activities=activities.all(),
        activity_executor=ThreadPoolExecutor(max_workers=ACTIVITY_THREADS),
        max_concurrent_activities=ACTIVITY_THREADS,
        # On SIGTERM, let activities in flight (a send, a database write) finish first.
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
    )


def configure_logging() -> None:
    """One log stream, structlog's and the stdlib's (activities, the SDK) alike: JSON lines
    when not on a terminal, for log shippers; readable lines on a terminal."""
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer()
        if sys.stderr.isatty()
        else structlog.processors.JSONRenderer(ensure_ascii=False)
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO"))


async def run_until_stopped() -> None:
    log = structlog.get_logger("worker")
    client = await settings.connect_client()
    worker = create_worker(client)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with worker:
        log.info("worker started", task_queue=worker.task_queue)
        await stop.wait()
        log.info("worker stopping: finishing activities in flight")
    log.info("worker stopped")


def main() -> None:
    configure_logging()
    code = 0
    try:
        asyncio.run(run_until_stopped())
    except Exception:
        structlog.get_logger("worker").exception("worker failed")
        code = 1
    # A process that used a Temporal client can crash while the interpreter tears
    # down; leave without that teardown so the exit code is the truth.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
