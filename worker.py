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
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import structlog
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

import settings
from activities.case_activities import CollectionActivities
from activities.store import Store
from cli.namespace_setup import (
    REFUSED,
    compare_search_attributes,
    list_search_attributes,
    type_name,
)
from migrations import SchemaNotCurrent
from workflows.collection_case import CollectionCase
from workflows.search_attributes import INDEXED_TYPES

# The activities are synchronous (sqlmodel, file writes); they run on these threads.
ACTIVITY_THREADS = 16
GRACEFUL_SHUTDOWN = timedelta(seconds=10)
DEFAULT_CACHED_CASES = 10_000
# Exit status when the namespace is not ready for cases: distinct from a crash (1), so a
# supervisor or a deploy script can tell "run setup first" from a failure.
EXIT_NAMESPACE_NOT_READY = 3
# Exit status when the case database is not at this version's schema: run the migrations.
EXIT_DATABASE_NOT_READY = 4


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
        # Cases sleep for days between steps; evicting one from the cache means replaying its
        # whole history on its next message, so keep a portfolio's worth of them in memory.
        max_cached_workflows=int(os.environ.get("WORKER_CACHED_CASES", DEFAULT_CACHED_CASES)),
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


class NamespaceNotReady(Exception):
    """The namespace lacks what cases need (search attributes, or the namespace itself)."""


async def check_search_attributes(
    client: Client, wanted: Mapping[str, IndexedValueType.ValueType] = INDEXED_TYPES
) -> None:
    """Refuse to run cases in a namespace that lacks the search attributes they set.

    Without them every case fails its workflow tasks over and over, visible only as
    warnings in the worker's log; better to stop at once and say what to do. Raises
    `NamespaceNotReady` (after logging the error); where the server does not let this
    client list the attributes, logs a warning and returns, so the worker still starts.
    """
    log = structlog.get_logger("worker")
    namespace = client.namespace
    try:
        existing = await list_search_attributes(client)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            message = f"namespace {namespace} does not exist ({error.message})"
            log.error(message, namespace=namespace)
            raise NamespaceNotReady(message) from None
        if error.status not in REFUSED:
            raise
        log.warning(
            f"cannot list the search attributes of namespace {namespace} "
            f"({error.message}); starting without checking them: if cases fail their "
            "workflow tasks, run `python starter.py setup` to check and add them",
            namespace=namespace,
            rpc_status=error.status.name if error.status else None,
        )
        return
    check = compare_search_attributes(wanted, existing)
    if check.complete:
        return
    problems = []
    if check.missing:
        problems.append(f"lacks the search attributes {', '.join(check.missing)}")
    if check.wrong_type:
        problems.append(
            "has search attributes of the wrong type "
            + ", ".join(
                f"{name} ({type_name(kind)}, {type_name(wanted[name])} needed)"
                for name, kind in check.wrong_type.items()
            )
        )
    message = (
        f"namespace {namespace} {' and '.join(problems)}: run `python starter.py setup` "
        "against it (it adds the missing ones, or on Temporal Cloud prints the tcld "
        "commands), then start the worker again"
    )
    if check.wrong_type:
        # setup cannot fix these: a search attribute's type is fixed once registered.
        message += (
            f" (remove {', '.join(check.wrong_type)} from the namespace first: "
            "a search attribute's type cannot be changed)"
        )
    log.error(
        message,
        namespace=namespace,
        missing=list(check.missing),
        wrong_type=list(check.wrong_type),
    )
    raise NamespaceNotReady(message)


class CaseDatabaseNotReady(Exception):
    """The case database is not at the schema this version needs."""


def check_case_database() -> None:
    """Refuse to run cases on a database behind (or ahead of) this version's schema.

    Activities would fail on every missing column, over and over; better to stop at once and
    say what to do. An empty database is created (`Store.require_current_schema`). Raises
    `CaseDatabaseNotReady` after logging the error.
    """
    store = Store.from_env()
    try:
        store.require_current_schema()
    except SchemaNotCurrent as error:
        message = f"{error}, then start the worker again"
        structlog.get_logger("worker").error(
            message, revision=error.status.revision, head=error.status.head
        )
        raise CaseDatabaseNotReady(message) from None
    finally:
        store.dispose()


async def run_until_stopped() -> None:
    log = structlog.get_logger("worker")
    client = await settings.connect_client()
    await check_search_attributes(client)
    check_case_database()
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
    except NamespaceNotReady:
        code = EXIT_NAMESPACE_NOT_READY  # already logged, with what to do
    except CaseDatabaseNotReady:
        code = EXIT_DATABASE_NOT_READY  # already logged, with what to do
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
