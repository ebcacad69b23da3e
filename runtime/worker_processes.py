"""Every core: one parent process keeps WORKER_PROCESSES worker processes running.

Python runs one thread at a time in a process, so one worker process uses one core. The parent
starts N children, each a whole worker (`worker.py` with WORKER_PROCESSES=1) on the same task
queue, and does nothing else: no Temporal client, no database. It forwards SIGTERM and SIGINT
to the children and waits for them to finish their activities in flight, then exits 0 (1 if a
child did not stop cleanly). A child that ends while the parent is not stopping (a crash, a
kill -9, an out-of-memory kill) is started again after a back-off, so that one that fails as it
starts does not spin. When a child fails at start again and again, as every child does with a
bad setting, or ends with a status that says the operator must act first (the namespace or the
case database not ready), the parent stops the others and exits with that child's status.

With METRICS_PORT set, child i (from 0) serves its metrics on METRICS_PORT + i: N processes
cannot share one port, and each child's SDK metrics are its own. Its log lines carry
`worker_process` = i. A child stops as if told to when the parent dies, even by SIGKILL (Linux).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import sys
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import structlog

from runtime.settings import whole_number

PROCESSES_ENV = "WORKER_PROCESSES"
# Set by the parent in each child's environment: which child it is, and whose.
PROCESS_INDEX_ENV = "WORKER_PROCESS_INDEX"
PARENT_PID_ENV = "WORKER_PARENT_PID"
# prctl(2): the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1
METRICS_PORT_ENV = "METRICS_PORT"
HIGHEST_PORT = 65535


def available_cores() -> int:
    """The cores this process may run on (a container's or taskset's share, not the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def count_from_env() -> int:
    """WORKER_PROCESSES, default one per available core; a bad value names the variable."""
    return whole_number(PROCESSES_ENV, available_cores())


def child_environment(environ: Mapping[str, str], index: int, count: int) -> dict[str, str]:
    """Child `index`'s environment: a worker in its own process, on its own metrics port.

    Raises `ValueError` naming METRICS_PORT when the ports of all `count` children do not fit;
    a METRICS_PORT that is no port at all is passed on, for the child to refuse by name.
    """
    child = {**environ, PROCESSES_ENV: "1", PROCESS_INDEX_ENV: str(index)}
    child[PARENT_PID_ENV] = str(os.getpid())
    port = environ.get(METRICS_PORT_ENV, "").strip()
    if port.isdigit():
        highest = int(port) + count - 1
        if highest > HIGHEST_PORT:
            raise ValueError(
                f"{METRICS_PORT_ENV}: {count} worker processes serve their metrics on ports "
                f"{port} to {highest}, beyond {HIGHEST_PORT}"
            )
        child[METRICS_PORT_ENV] = str(int(port) + index)
    return child


def start_as_child() -> None:
    """In a child (nothing in a worker without a parent): tag every log line with its index,
    and stop, as if told to, when the parent dies: a parent killed with SIGKILL, which cannot
    pass the signal on, leaves no worker behind (on Linux; elsewhere the process manager must
    stop the children too)."""
    index = os.environ.get(PROCESS_INDEX_ENV, "").strip()
    if index.isdigit():
        structlog.contextvars.bind_contextvars(worker_process=int(index))
    parent = os.environ.get(PARENT_PID_ENV, "").strip()
    if not parent.isdigit() or not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(parent):
        os.kill(os.getpid(), signal.SIGTERM)  # it died before the request took hold


@dataclass(frozen=True)
class Restart:
    """What to do once a child ended: start it again after `delay` seconds, or give up."""

    give_up: bool
    delay: float
    start_failures: int


@dataclass(frozen=True)
class RestartPolicy:
    """When a child that ended is started again.

    A child that ran less than `start_window` seconds failed at start; after
    `max_start_failures` such failures in a row the parent gives up (a bad setting fails every
    start alike). The back-off doubles from `first_delay` with each failure in a row, up to
    `max_delay`; a child that ran longer is started again after `first_delay`.
    """

    start_window: float = 30.0
    max_start_failures: int = 3
    first_delay: float = 1.0
    max_delay: float = 30.0

    def after(
        self, status: int, ran: float, start_failures: int, fatal: Collection[int]
    ) -> Restart:
        if status in fatal:
            return Restart(give_up=True, delay=0.0, start_failures=start_failures)
        failures = start_failures + 1 if ran < self.start_window else 0
        if failures >= self.max_start_failures:
            return Restart(give_up=True, delay=0.0, start_failures=failures)
        delay = min(self.first_delay * 2 ** max(failures - 1, 0), self.max_delay)
        return Restart(give_up=False, delay=delay, start_failures=failures)


def supervise(
    command: Sequence[str],
    count: int,
    fatal: Collection[int],
    policy: RestartPolicy | None = None,
) -> int:
    """Run `count` children of `command` until SIGTERM or SIGINT (or until giving up); the
    parent's exit status. `fatal`: exit statuses after which a child is not started again."""
    parent = Supervisor(command, count, frozenset(fatal), policy or RestartPolicy())
    return asyncio.run(parent.run())


class Supervisor:
    """The parent: one task per child slot, each keeping its child running."""

    def __init__(
        self, command: Sequence[str], count: int, fatal: frozenset[int], policy: RestartPolicy
    ) -> None:
        self.command = list(command)
        self.count = count
        self.fatal = fatal
        self.policy = policy
        self.log = structlog.get_logger("worker")
        self.children: dict[int, asyncio.subprocess.Process] = {}
        self.stopping = asyncio.Event()
        self.stop_signal = signal.SIGTERM
        # The status of the child whose failure made the parent give up.
        self.failed_status: int | None = None
        # Each child's environment, checked before any starts.
        self.environments = [child_environment(os.environ, i, count) for i in range(count)]

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop, signum)
        self.log.info("worker processes starting", processes=self.count, parent_pid=os.getpid())
        statuses = await asyncio.gather(*(self.keep_running(i) for i in range(self.count)))
        if self.failed_status is not None:
            self.log.error(
                "worker processes stopped: one cannot run (see its log above)",
                status=self.failed_status,
                statuses=statuses,
            )
            return self.failed_status if self.failed_status > 0 else 1
        self.log.info("worker processes stopped", statuses=statuses)
        return 0 if all(status == 0 for status in statuses) else 1

    def stop(self, signum: signal.Signals = signal.SIGTERM) -> None:
        """Stop for good: pass `signum` on to every child and start none again."""
        self.stop_signal = signum
        self.stopping.set()
        for process in self.children.values():
            if process.returncode is None:
                process.send_signal(signum)

    async def keep_running(self, index: int) -> int:
        """Child `index`, started again whenever it ends unasked; its last exit status."""
        start_failures = 0
        while True:
            started = time.monotonic()
            status = await self.run_child(index)
            if self.stopping.is_set():
                return status
            restart = self.policy.after(
                status, time.monotonic() - started, start_failures, self.fatal
            )
            start_failures = restart.start_failures
            if restart.give_up:
                self.failed_status = status
                self.stop(signal.SIGTERM)
                return status
            self.log.warning(
                "worker process ended unasked: starting it again",
                worker_process=index,
                status=status,
                delay_seconds=restart.delay,
                start_failures=start_failures,
            )
            try:
                await asyncio.wait_for(self.stopping.wait(), restart.delay)
                return status  # stopped during the back-off
            except TimeoutError:
                pass

    async def run_child(self, index: int) -> int:
        """Start child `index`, wait for it to end; its exit status (128 + n if killed by n)."""
        process = await asyncio.create_subprocess_exec(*self.command, env=self.environments[index])
        self.children[index] = process
        self.log.info("worker process started", worker_process=index, pid=process.pid)
        if self.stopping.is_set():
            # The stop came while it was being started: it has not been told yet.
            process.send_signal(self.stop_signal)
        returncode = await process.wait()
        del self.children[index]
        status = returncode if returncode >= 0 else 128 - returncode
        self.log.info("worker process ended", worker_process=index, pid=process.pid, status=status)
        return status
