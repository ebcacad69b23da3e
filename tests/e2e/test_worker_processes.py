"""`worker.py` with WORKER_PROCESSES=2 on the real dev server: one parent keeps two worker
processes polling the task queue, each serving its metrics on a port of its own, replaces one
killed with SIGKILL, and on SIGTERM stops them all, every one exiting 0; killed itself, it
leaves no worker behind. Children that fail as they start make the parent give up rather than
start them forever.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

import worker
from tests.helpers.eventually import eventually
from tests.helpers.paths import PROJECT_DIR
from tests.helpers.processes import log_lines, process_env, run_process
from tests.helpers.temporal import CaseWorld, DevServer


@dataclass
class ParentProcess:
    """The parent as a process, and every JSON line it and its children wrote to stderr."""

    process: asyncio.subprocess.Process
    lines: list[dict[str, Any]] = field(default_factory=list)

    def events(self, event: str, **fields: Any) -> list[dict[str, Any]]:
        return [
            line
            for line in self.lines
            if line.get("event") == event and all(line.get(k) == v for k, v in fields.items())
        ]

    def children(self) -> dict[int, int]:
        """Each child's index and the pid of its latest process, as the parent logged them."""
        return {
            line["worker_process"]: line["pid"] for line in self.events("worker process started")
        }


@asynccontextmanager
async def parent_process(env: dict[str, str]) -> AsyncIterator[ParentProcess]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(PROJECT_DIR / "worker.py"),
        cwd=PROJECT_DIR,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    parent = ParentProcess(process)
    reading = asyncio.create_task(read_lines(parent))
    try:
        yield parent
    finally:
        # Anything left running (the test failed) would hold the log's pipe open, and
        # asyncio's wait() waits for the pipes too.
        for pid in (process.pid, *parent.children().values()):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        await asyncio.wait_for(process.wait(), timeout=30)
        await asyncio.wait_for(reading, timeout=30)


async def read_lines(parent: ParentProcess) -> None:
    assert parent.process.stderr is not None
    async for raw in parent.process.stderr:
        text = raw.decode()
        if text.startswith("{"):
            parent.lines.append(json.loads(text))


def children_of(pid: int) -> set[int]:
    """The live processes whose parent is `pid` (read from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # it ended meanwhile
        # The second field, the command, is in parentheses and may hold spaces.
        state, parent = stat.rsplit(")", 1)[1].split()[:2]
        if int(parent) == pid and state != "Z":
            found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, ended but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def two_free_ports() -> int:
    """A port P with P and P + 1 both free (child 0 and child 1 serve their metrics there)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        with socket.socket() as next_one:
            try:
                next_one.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise AssertionError("no two consecutive free ports")


async def pollers(server: DevServer, task_queue: str) -> set[str]:
    """The identities polling the task queue's workflow tasks (`pid@host` for a Python worker)."""
    answer = await server.env.client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace="default",
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return {poller.identity for poller in answer.pollers}


async def test_the_parent_keeps_its_workers_running_and_stops_them_on_sigterm(
    dev_server: DevServer, case_world: CaseWorld
) -> None:
    port = two_free_ports()
    env = process_env(dev_server, "default") | {"WORKER_PROCESSES": "2", "METRICS_PORT": str(port)}
    async with parent_process(env) as parent:
        pid = parent.process.pid
        await eventually(lambda: len(parent.events("worker started")) == 2, seconds=60)
        first = parent.children()
        assert sorted(first) == [0, 1]
        assert children_of(pid) == set(first.values())
        # Both are workers on the test's task queue, each serving its own metrics.
        identities = await eventually(
            lambda: pollers(dev_server, case_world.task_queue),
            lambda found: {i.split("@")[0] for i in found} >= {str(p) for p in first.values()},
        )
        assert len(identities) == 2
        async with httpx.AsyncClient(timeout=10) as http:
            for index in (0, 1):
                scraped = await http.get(f"http://127.0.0.1:{port + index}/metrics")
                assert scraped.status_code == 200
                assert "\ncollections_open_cases{" in scraped.text
                assert f'task_queue="{case_world.task_queue}"' in scraped.text

        os.kill(first[0], signal.SIGKILL)
        await eventually(lambda: len(parent.events("worker started", worker_process=0)) == 2)
        ended = parent.events("worker process ended", worker_process=0)
        assert [(e["pid"], e["status"]) for e in ended] == [(first[0], 128 + signal.SIGKILL)]
        replaced = parent.children()
        assert replaced[1] == first[1] and replaced[0] != first[0]
        assert children_of(pid) == set(replaced.values())

        parent.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(parent.process.wait(), timeout=60) == 0
    stopped = {e["pid"]: e["status"] for e in parent.events("worker process ended")}
    assert stopped == {first[0]: 137, replaced[0]: 0, replaced[1]: 0}
    assert len(parent.events("worker stopped")) == 2
    assert not any(alive(child) for child in replaced.values())
    (summary,) = parent.events("worker processes stopped")
    assert summary["statuses"] == [0, 0]


async def test_the_workers_stop_when_their_parent_is_killed(
    dev_server: DevServer, case_world: CaseWorld
) -> None:
    env = process_env(dev_server, "default") | {"WORKER_PROCESSES": "2"}
    async with parent_process(env) as parent:
        await eventually(lambda: len(parent.events("worker started")) == 2, seconds=60)
        children = parent.children()
        parent.process.kill()  # SIGKILL: it cannot pass anything on
        # Each child is told by the kernel, and stops as if the parent had passed on SIGTERM.
        await eventually(lambda: len(parent.events("worker stopped")) == 2, seconds=30)
        await eventually(lambda: not any(alive(pid) for pid in children.values()), seconds=30)
    assert parent.process.returncode == -signal.SIGKILL
    assert {line["worker_process"] for line in parent.events("worker stopped")} == {0, 1}


async def test_the_parent_gives_up_when_its_workers_keep_failing_at_start(
    dev_server: DevServer, case_world: CaseWorld
) -> None:
    env = process_env(dev_server, "default") | {
        "WORKER_PROCESSES": "2",
        "WORKER_ACTIVITY_THREADS": "none",
    }
    code, _, err = await run_process("worker.py", env)
    assert code == 1, err
    lines = log_lines(err)
    failures = [line for line in lines if line["event"] == "worker failed"]
    assert failures
    assert all(
        "WORKER_ACTIVITY_THREADS: must be a whole number" in f["exception"] for f in failures
    )
    starts = [line for line in lines if line["event"] == "worker process started"]
    # Three failed starts of one child at most, and the other child's as many, then no more.
    assert 3 <= len(starts) <= 6
    (given_up,) = [line for line in lines if line["level"] == "error" and "status" in line]
    assert given_up["status"] == 1
    assert "worker started" not in err


async def test_a_worker_that_says_the_namespace_is_not_ready_is_not_started_again(
    dev_server: DevServer, case_world: CaseWorld
) -> None:
    env = process_env(dev_server, "no-such-namespace") | {"WORKER_PROCESSES": "2"}
    code, _, err = await run_process("worker.py", env)
    assert code == worker.EXIT_NAMESPACE_NOT_READY, err
    lines = log_lines(err)
    assert len([line for line in lines if line["event"] == "worker process started"]) == 2
    assert not [line for line in lines if "starting it again" in line["event"]]
