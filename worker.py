"""The worker: runs every collection case and activity on the task queue.

`create_worker(client)` is the embedding API of the contract; `main()` is the process
behind `make run` and deployments, configured from the environment.
"""

from __future__ import annotations

import asyncio
import compileall
import os
import re
import signal
import socket
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import structlog
from opentelemetry.instrumentation.utils import suppress_http_instrumentation
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import workflows
from activities import metrics
from activities.case_activities import CollectionActivities
from activities.preparation import check_routing
from activities.store import Store
from domain.errors import InvalidInput
from migrations import SchemaNotCurrent
from runtime import collector, encryption, payloads, sandbox, settings, tracing, worker_processes
from runtime.logs import configure_logging
from runtime.namespace import NamespaceNotReady, check_search_attributes
from workflows.collection_case import CollectionCase
from workflows.search_attributes import INDEXED_TYPES

# The activities are synchronous (sqlmodel, file writes); they run on these threads.
ACTIVITY_THREADS = 16
GRACEFUL_SHUTDOWN = timedelta(seconds=10)
DEFAULT_CACHED_CASES = 10_000
# Workflow tasks run one at a time per process anyway (Python's GIL): with the SDK's 100 at
# once, a thousand cases opening together shared the GIL a hundred ways, and each first workflow
# task took 2-3 s (p50; over 5 s for some, near the deadlock detector's 2 s per activation).
# With 10 the first task takes about 0.2 s and the process opens as many cases a second; the
# rest wait at the server, where waiting costs nothing (make bench, issue 19).
DEFAULT_WORKFLOW_TASKS = 10
DEFAULT_POLLERS = 5
# The workflow pollers' share for new cases (and cases the process no longer holds); the rest
# fetch the next task of a case the process holds. The SDK's 0.2 gives new cases one of five:
# under an import whose cases race through their first steps, the held cases' tasks took four
# freed slots of five and first contacts came at a third of the ceiling. Half (two of five)
# met half the ceiling with the held cases' payments as quick; all five for new cases left the
# held cases one poller, and their payments and timers late (docs/benchmarks.md).
NEW_CASE_POLLER_SHARE = 0.5
# Exit status when the namespace is not ready for cases: distinct from a crash (1), so a
# supervisor or a deploy script can tell "run setup first" from a failure.
EXIT_NAMESPACE_NOT_READY = 3
METRICS_PORT = "METRICS_PORT"
SDK_SCRAPE_TIMEOUT_SECONDS = 5
SDK_EXPORTER_BIND_ATTEMPTS = 5
# Exit status when the case database is not at this version's schema: run the migrations.
EXIT_DATABASE_NOT_READY = 4
# The workflow's helper modules, imported once and shared by every case (see workflow_runner).
SHARED_WORKFLOW_MODULES = (
    "workflows.case_assignment",
    "workflows.case_base",
    "workflows.case_bookkeeping",
    "workflows.case_messages",
    "workflows.definition",
    "workflows.search_attributes",
)
# Where the worker's spans come from, in a trace (`OTEL_SERVICE_NAME` overrides it).
TRACED_AS = "collections-worker"


def create_worker(client: Client, *, task_queue: str | None = None) -> Worker:
    """A worker for every workflow and activity of the system, configured from the environment.

    `client` may use Temporal's default data converter: the worker reads payloads with
    `runtime.payloads.case_converter` (the same wire format) and, with
    `COLLECTIONS_ENCRYPTION_KEYS` set, adds the encryption codec, on its own copy of the client.
    """
    activities = CollectionActivities.from_env()
    compile_workflow_modules()
    # With OTEL_EXPORTER_OTLP_ENDPOINT set, traced wherever it runs (an embedding too).
    tracing.start_tracing(TRACED_AS)
    tuning = settings.whole_number
    activity_threads = tuning("WORKER_ACTIVITY_THREADS", ACTIVITY_THREADS)
    # One copy of the client, reading with the project's converter and encrypting as set.
    converter = encryption.encrypting_from_env(payloads.case_converter(client.data_converter))
    return Worker(
        payloads.with_converter(client, converter),
        task_queue=task_queue or settings.task_queue(),
        workflows=[CollectionCase],
        workflow_runner=workflow_runner(),
        activities=activities.all(),
        activity_executor=ThreadPoolExecutor(max_workers=activity_threads),
        max_concurrent_activities=activity_threads,
        max_concurrent_workflow_tasks=tuning("WORKER_WORKFLOW_TASKS", DEFAULT_WORKFLOW_TASKS),
        max_concurrent_workflow_task_polls=tuning("WORKER_WORKFLOW_POLLERS", DEFAULT_POLLERS),
        nonsticky_to_sticky_poll_ratio=NEW_CASE_POLLER_SHARE,
        max_concurrent_activity_task_polls=tuning("WORKER_ACTIVITY_POLLERS", DEFAULT_POLLERS),
        # Cases sleep for days between steps; evicting one from the cache means replaying its
        # whole history on its next message, so keep a portfolio's worth of them in memory.
        max_cached_workflows=tuning("WORKER_CACHED_CASES", DEFAULT_CACHED_CASES),
        # On SIGTERM, let activities in flight (a send, a database write) finish first.
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        interceptors=tracing.worker_interceptors(client),
    )


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox, importing only the workflow's own module afresh for each case.

    The sandbox runs every module a workflow imports anew for each case it starts or brings
    back into its cache, unless the module is passed through. When a thousand cases open at
    once, re-running the case's mixin modules (their message handlers' definitions and type
    hints) was a third of the worker's time, all of it inside first workflow tasks. Those
    modules hold no state of their own and only call the workflow API, so they are shared;
    `workflows.collection_case`, the workflow's module, is still sandboxed.
    """
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*SHARED_WORKFLOW_MODULES)
    return sandbox.case_sandbox(restrictions)


def compile_workflow_modules() -> None:
    """Write the workflow modules' bytecode, if it is missing or stale.

    The sandbox imports the workflow modules afresh for every case it starts or brings back
    into its cache. Where Python writes no bytecode by itself (PYTHONDONTWRITEBYTECODE, usual
    in containers) each of those imports compiled the source again: a sixth of the worker's
    time when a thousand cases opened at once. Best effort: where the folder is read-only,
    cases run as before, only slower.
    """
    for folder in workflows.__path__:
        compileall.compile_dir(Path(folder), quiet=2)


class MetricsEndpoint:
    """`GET /metrics` on one port: the SDK's metrics and the business metrics together.

    The SDK exports its metrics (requests, task slots, schedule-to-start latencies, ...) over
    HTTP from its own runtime; that exporter listens on a loopback port of its own, and each
    scrape of this endpoint reads it (`SdkMetrics`) beside the business metrics of
    `activities.metrics` (counters, and the open cases by stage from the case database).
    prometheus_client's own server serves them, on every path (its choice: /metrics is the
    one to scrape). Clients that should be measured must be connected with `runtime`.
    """

    def __init__(self, port: int, store: Store) -> None:
        self.runtime, self.sdk_port = _sdk_runtime()
        self.open_cases = metrics.OpenCasesCollector(store)
        self._store = store
        served = CollectorRegistry()
        served.register(metrics.REGISTRY)
        served.register(SdkMetrics(self.sdk_port))
        try:
            self._server, self._thread = start_http_server(port, registry=served)
        except OSError as error:
            raise OSError(f"{METRICS_PORT}: cannot listen on port {port}: {error}") from error
        self.port = int(self._server.server_address[1])
        metrics.REGISTRY.register(self.open_cases)

    @classmethod
    def from_env(cls) -> MetricsEndpoint | None:
        """The endpoint on `METRICS_PORT`, or None when it is unset (no metrics)."""
        raw = os.environ.get(METRICS_PORT, "").strip()
        if not raw:
            return None
        if not raw.isdigit() or not 1 <= int(raw) <= 65535:
            raise ValueError(f"{METRICS_PORT}: must be a port number from 1 to 65535, not {raw!r}")
        return cls(int(raw), Store.from_env())

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        metrics.REGISTRY.unregister(self.open_cases)
        self._store.dispose()


class SdkMetrics(Collector):
    """The SDK exporter's metrics, read at each scrape, under the names the SDK gives them.

    Its counters carry no `_total` (the names Temporal's SDK dashboards query), and
    prometheus_client renders a counter as `<name>_total` whatever it was called: they are
    served untyped instead, with their samples as the SDK wrote them. A scraper stores the
    same names; only the TYPE comment of those says `untyped` rather than `counter`.
    """

    def __init__(self, sdk_port: int) -> None:
        self._url = f"http://127.0.0.1:{sdk_port}/metrics"

    def collect(self) -> Iterator[Metric]:
        try:
            # The scrape is the worker reading itself, not a call worth a trace of its own.
            with suppress_http_instrumentation():
                response = httpx.get(self._url, timeout=SDK_SCRAPE_TIMEOUT_SECONDS)
            response.raise_for_status()
            families = list(text_string_to_metric_families(response.text))
        except (httpx.HTTPError, ValueError) as error:
            # The business metrics still answer; the SDK's are missing from this scrape only.
            structlog.get_logger("worker").warning(f"SDK metrics unavailable: {error}")
            return
        typed_as_written = set(_COUNTER_TYPE_LINE.findall(response.text))
        for family in families:
            if family.type != "counter" or f"{family.name}_total" in typed_as_written:
                yield family
                continue
            untyped = Metric(family.name, family.documentation, "unknown")
            for sample in family.samples:
                name = family.name if sample.name == f"{family.name}_total" else sample.name
                untyped.add_sample(name, sample.labels, sample.value, sample.timestamp)
            yield untyped


# The counters' names in the SDK's text as it wrote them (the parser adds `_total`).
_COUNTER_TYPE_LINE = re.compile(r"^# TYPE (\S+) counter$", re.MULTILINE)


def _sdk_runtime() -> tuple[Runtime, int]:
    """A runtime whose Prometheus exporter listens on a free loopback port (and that port).

    The SDK's metric names and units stay its defaults (milliseconds, no suffixes): the names
    Temporal's own SDK dashboards query.
    """
    for attempt in range(SDK_EXPORTER_BIND_ATTEMPTS):
        port = _free_loopback_port()
        config = PrometheusConfig(bind_address=f"127.0.0.1:{port}")
        try:
            return Runtime(telemetry=TelemetryConfig(metrics=config)), port
        except ValueError:
            # Another process took the port between our probe and the exporter's bind.
            if attempt == SDK_EXPORTER_BIND_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await run_worker(stop)


def check_settings() -> None:
    """Refuse, as `UsageError`, what would fail cases later: a malformed portal secret (the
    links in every notice are signed with it; without one the case database keeps one) and a
    routing file with a mistake (named by its rule)."""
    settings.portal_secret()
    try:
        check_routing()
    except InvalidInput as error:
        raise settings.UsageError(str(error)) from None


async def run_worker(stop: asyncio.Event) -> None:
    """The worker process until `stop` is set: the metrics endpoint when `METRICS_PORT` is
    set, the client (measured by the endpoint's runtime), the namespace check, the worker."""
    log = structlog.get_logger("worker")
    endpoint = MetricsEndpoint.from_env()
    try:
        check_settings()
        if endpoint is not None:
            log.info("metrics served", port=endpoint.port, path="/metrics")
        client = await settings.connect_client(endpoint.runtime if endpoint else None)
        await check_search_attributes(client, INDEXED_TYPES)
        check_case_database()
        worker = create_worker(client)
        async with worker:
            log.info("worker started", task_queue=worker.task_queue)
            await stop.wait()
            log.info("worker stopping: finishing activities in flight")
        log.info("worker stopped")
    finally:
        if endpoint is not None:
            endpoint.close()


def main() -> None:
    """`python worker.py`: WORKER_PROCESSES worker processes under this one (default: one per
    core), or, with WORKER_PROCESSES=1, this process is the worker."""
    configure_logging()
    try:
        processes = worker_processes.count_from_env()
        code = run_this_process() if processes == 1 else run_processes(processes)
    except Exception:
        structlog.get_logger("worker").exception("worker failed")
        code = 1
    # A process that used a Temporal client can crash while the interpreter tears
    # down; leave without that teardown so the exit code is the truth.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


# A setting the operator has to correct (a broken routing file, a malformed secret).
EXIT_BAD_SETTING = 2
# Exit statuses that say the operator has to act first: a restart cannot help.
NOT_READY = frozenset({EXIT_NAMESPACE_NOT_READY, EXIT_DATABASE_NOT_READY, EXIT_BAD_SETTING})


def run_processes(count: int) -> int:
    """`count` worker processes under this one (`runtime.worker_processes`); its exit status.

    The case database is checked here first, once: an empty one is made before the children
    start, rather than by all of them at once, each finding the others' tables half made.
    """
    try:
        check_settings()
        check_case_database()
    except settings.UsageError as error:
        structlog.get_logger("worker").error(f"worker not started: {error}")
        return EXIT_BAD_SETTING
    except CaseDatabaseNotReady:
        return EXIT_DATABASE_NOT_READY  # already logged, with what to do
    command = [sys.executable, str(Path(__file__).resolve())]
    return worker_processes.supervise(command, count, NOT_READY)


def run_this_process() -> int:
    """The worker in this process until SIGTERM or SIGINT; its exit status."""
    worker_processes.start_as_child()
    collector.tune_for_cases()
    code = 0
    try:
        tracing.start_tracing(TRACED_AS)
        asyncio.run(run_until_stopped())
    except NamespaceNotReady:
        code = EXIT_NAMESPACE_NOT_READY  # already logged, with what to do
    except CaseDatabaseNotReady:
        code = EXIT_DATABASE_NOT_READY  # already logged, with what to do
    except settings.UsageError as error:
        structlog.get_logger("worker").error(f"worker not started: {error}")
        code = EXIT_BAD_SETTING
    except Exception:
        structlog.get_logger("worker").exception("worker failed")
        code = 1
    tracing.stop_tracing()
    return code


if __name__ == "__main__":
    main()
