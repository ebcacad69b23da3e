"""The benchmark's CPU figures per case (scripts/bench/cpu_use.py): read from /proc for real
processes of this machine, and from a hand-made /proc where the command name is awkward."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.paths import PROJECT_DIR

# The benchmark's modules import each other by bare name, as `make bench` runs them.
sys.path.insert(0, str(PROJECT_DIR / "scripts" / "bench"))

from cpu_use import CpuReading, cpu_seconds, dev_server_pid, settled

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")

BUSY = "import time\nend = time.process_time() + {seconds}\nwhile time.process_time() < end: pass"


def fake_process(proc: Path, pid: int, parent: int, command: list[str], ticks: int) -> None:
    """A /proc entry whose command name holds a space and a parenthesis, as some do."""
    folder = proc / str(pid)
    folder.mkdir(parents=True)
    fields = ["S", str(parent), *["0"] * 9, str(ticks), str(ticks), *["0"] * 10]
    (folder / "stat").write_text(f"{pid} (odd ) name) {' '.join(fields)}\n")
    (folder / "cmdline").write_bytes(b"\0".join(part.encode() for part in command) + b"\0")


def test_a_busy_child_is_charged_its_cpu_per_case_and_an_idle_one_almost_none() -> None:
    idle = subprocess.Popen(
        [sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        # Its interpreter's start-up is spent before the reading (CI saw 30 ms of it after).
        assert idle.stdout is not None and idle.stdout.readline() == "ready\n"
        busy = subprocess.Popen([sys.executable, "-c", BUSY.format(seconds=0.6)])
        reading = CpuReading.now({"busy": [busy.pid], "idle": [idle.pid]})
        # Ended but not reaped: its /proc entry still holds what it spent.
        os.waitid(os.P_PID, busy.pid, os.WEXITED | os.WNOWAIT)
        figures = reading.ms_per_case(cases=3)
        busy.wait()
        after_reaped = reading.ms_per_case(cases=3)
    finally:
        idle.kill()
        idle.communicate()
    # The busy loop alone spent 0.6 s after the reading: 200 ms for each of 3 cases.
    assert figures["busy"] is not None and figures["busy"] >= 190
    assert figures["idle"] is not None and figures["idle"] < 10
    # A process gone cannot be read: no figure rather than a wrong one.
    assert after_reaped["busy"] is None


def test_the_cpu_of_this_process_grows_as_it_works() -> None:
    before = cpu_seconds(os.getpid())
    end = time.process_time() + 0.2
    while time.process_time() < end:
        pass
    after = cpu_seconds(os.getpid())
    assert before is not None and after is not None
    assert after - before >= 0.1


def test_the_fields_are_counted_after_the_command_name(tmp_path: Path) -> None:
    ticks_per_s = os.sysconf("SC_CLK_TCK")
    fake_process(tmp_path, 41, 1, ["python"], ticks=ticks_per_s)
    assert cpu_seconds(41, proc=tmp_path) == 2.0  # user + system, one second each
    assert cpu_seconds(42, proc=tmp_path) is None


def test_the_dev_server_is_the_child_running_server_start_dev(tmp_path: Path) -> None:
    fake_process(tmp_path, 50, 7, ["/venv/bin/temporal", "server", "start-dev", "--headless"], 1)
    fake_process(tmp_path, 51, 7, ["/venv/bin/python", "worker.py"], 1)
    fake_process(tmp_path, 52, 8, ["/venv/bin/temporal", "server", "start-dev"], 1)
    assert dev_server_pid(7, proc=tmp_path) == 50
    assert dev_server_pid(9, proc=tmp_path) is None


def test_a_role_with_no_process_has_no_figure() -> None:
    reading = CpuReading.now({"server": [], "worker": [os.getpid()]})
    figures = reading.ms_per_case(cases=10)
    assert figures["server"] is None
    assert figures["worker"] is not None and figures["worker"] >= 0


def test_settled_waits_while_a_process_is_busy_and_not_once_it_is_idle() -> None:
    """Before an intake the benchmark waits for the server and workers to fall idle: a
    process busy for 3 s keeps it waiting until then; an idle one settles at the first looks."""
    idle = subprocess.Popen(
        [sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    busy = subprocess.Popen(
        [sys.executable, "-c", BUSY.format(seconds=3) + "\nimport time; time.sleep(30)"]
    )
    try:
        assert idle.stdout is not None and idle.stdout.readline() == "ready\n"
        waited = asyncio.run(settled([busy.pid, idle.pid], quiet_looks=2, limit_s=30))
        spent = cpu_seconds(busy.pid)
        assert waited is not None and waited >= 2
        # It settled only once the busy loop was over.
        assert spent is not None and spent >= 2.9
        assert asyncio.run(settled([idle.pid], quiet_looks=2, limit_s=30)) == pytest.approx(
            2, abs=0.5
        )
        # Never idle within the limit: no figure rather than a wrong one.
        hot = subprocess.Popen([sys.executable, "-c", BUSY.format(seconds=10)])
        try:
            assert asyncio.run(settled([hot.pid], quiet_looks=2, limit_s=3)) is None
        finally:
            hot.kill()
            hot.wait()
    finally:
        for process in (idle, busy):
            process.kill()
            process.communicate()
