"""CPU time the benchmark's processes spend on a phase, per case (Linux `/proc`).

On one machine the dev server, the worker processes and the benchmark share the cores, so a
throughput figure alone does not say whose work bounds it. What each process spent between
two readings, divided by the cases of the phase, does: the ceiling's one-activity workflow
against a `demo` case's intake, on the server and in the worker, side by side.

Where `/proc` is missing (not Linux) the figures are None; the benchmark runs all the same.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from bench_cases import rounded

PROC = Path("/proc")
DEV_SERVER_COMMAND = "server start-dev"
# Idle: the server and the workers together under a tenth of a core, three looks a second apart
# in a row (reached three or four seconds after each phase before an intake, in the probes that
# added it).
SETTLED_SHARE = 0.1
SETTLED_LOOKS = 3
SETTLED_LIMIT_S = 300.0
LOOK_SECONDS = 1.0


def cpu_seconds(pid: int, proc: Path = PROC) -> float | None:
    """User and system CPU seconds of process `pid` so far; None if it is gone (or no /proc).

    Fields 14 and 15 of /proc/PID/stat, in clock ticks.
    """
    try:
        fields = _stat_fields((proc / str(pid) / "stat").read_text())
    except OSError:
        return None
    user_ticks, system_ticks = int(fields[11]), int(fields[12])
    return (user_ticks + system_ticks) / os.sysconf("SC_CLK_TCK")


def dev_server_pid(parent: int | None = None, proc: Path = PROC) -> int | None:
    """The `temporal server start-dev` child of `parent` (default: this process), if any."""
    parent = os.getpid() if parent is None else parent
    for entry in proc.glob("[0-9]*"):
        try:
            fields = _stat_fields((entry / "stat").read_text())
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parent_pid = int(fields[1])
        if parent_pid == parent and DEV_SERVER_COMMAND in command:
            return int(entry.name)
    return None


@dataclass(frozen=True)
class CpuReading:
    """CPU seconds so far of each role's processes (a role: `server`, `worker`, `benchmark`)."""

    pids: Mapping[str, tuple[int, ...]]
    seconds: Mapping[int, float | None]

    @classmethod
    def now(cls, pids: Mapping[str, Iterable[int]]) -> CpuReading:
        chosen = {role: tuple(role_pids) for role, role_pids in pids.items()}
        every = {pid for role_pids in chosen.values() for pid in role_pids}
        return cls(chosen, {pid: cpu_seconds(pid) for pid in every})

    def ms_per_case(self, cases: int) -> dict[str, float | None]:
        """Each role's CPU milliseconds per case from this reading until now (None for a role
        whose processes cannot be read, or with none)."""
        spent = self.spent_until(CpuReading.now(self.pids))
        return {
            role: None if seconds is None else rounded(1000 * seconds / cases)
            for role, seconds in spent.items()
        }

    def spent_until(self, later: CpuReading) -> dict[str, float | None]:
        """Each role's CPU seconds from this reading until `later` (None for a role whose
        processes cannot be read, or with none)."""
        figures: dict[str, float | None] = {}
        for role, role_pids in self.pids.items():
            spent = [_spent(self.seconds[pid], later.seconds[pid]) for pid in role_pids]
            if not spent or any(seconds is None for seconds in spent):
                figures[role] = None
                continue
            figures[role] = sum(seconds for seconds in spent if seconds is not None)
        return figures


def _stat_fields(stat: str) -> list[str]:
    """The fields of a /proc/PID/stat line after the command name (field 2), which may hold
    spaces and parentheses: counted from its closing parenthesis, the state is field 0."""
    return stat.rsplit(")", 1)[1].split()


def _spent(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


async def settled(
    pids: Iterable[int],
    *,
    idle_share: float = SETTLED_SHARE,
    quiet_looks: int = SETTLED_LOOKS,
    limit_s: float = SETTLED_LIMIT_S,
) -> float | None:
    """Wait until `pids` together use less than `idle_share` of one core for `quiet_looks`
    looks in a row, one a second; the seconds waited, or None if they never did within
    `limit_s` (or cannot be read).

    A phase that ends when its last case reached its goal leaves work behind (the workflow
    task on that activity's completion, the bookkeeping it journalled); a phase measured from
    an idle machine, as the ceiling is, is not charged for it, nor queued behind it."""
    started = time.monotonic()
    quiet = 0
    before = CpuReading.now({"all": pids})
    while time.monotonic() - started < limit_s:
        await asyncio.sleep(LOOK_SECONDS)
        after = CpuReading.now(before.pids)
        used = before.spent_until(after)["all"]
        if used is None:
            return None
        quiet = quiet + 1 if used < idle_share * LOOK_SECONDS else 0
        if quiet >= quiet_looks:
            return rounded(time.monotonic() - started)
        before = after
    return None
