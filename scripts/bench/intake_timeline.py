"""Where the cases of an intake spent it, from a run's `BENCH_DUMP_DIR` (its `events-*.csv`).

    .venv/bin/python scripts/bench/intake_timeline.py DUMP_DIR [events-file]

The newest events file is the demo cases' (the benchmark reads their histories last). The
intake's window runs from the first case's start to the last case's first activity start (the
first contact leaves inside that activity). Printed: when the cases' starts, first workflow
tasks and first activities came, in seconds from the window's start (p10 / p50 / p90 / max);
how long each waited; and the events a case recorded inside the window, by type, against the
11 of a one-activity workflow.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from figures import percentile

NS_PER_S = 1e9
PHASES = (
    ("started", "WORKFLOW_EXECUTION_STARTED"),
    ("first task started", "WORKFLOW_TASK_STARTED"),
    ("first task completed", "WORKFLOW_TASK_COMPLETED"),
    ("first activity scheduled", "ACTIVITY_TASK_SCHEDULED"),
    ("first activity started", "ACTIVITY_TASK_STARTED"),
)
WAITS = (
    ("start to first task", "started", "first task started"),
    ("first task itself", "first task started", "first task completed"),
    ("first activity in the queue", "first activity scheduled", "first activity started"),
)


@dataclass(frozen=True)
class CaseEvents:
    events: list[tuple[str, int]]  # (event type without its prefix, Unix ns)

    def first(self, kind: str) -> int | None:
        return next((at for name, at in self.events if name == kind), None)


def read_events(path: Path) -> list[CaseEvents]:
    cases = []
    for line in path.read_text().splitlines():
        _, _, listed = line.partition(",")
        events = []
        for item in listed.split(";"):
            name, _, at = item.rpartition("@")
            events.append((name.removeprefix("EVENT_TYPE_"), int(at)))
        cases.append(CaseEvents(events))
    return cases


def spread(values: list[float]) -> str:
    marks = [percentile(values, q) for q in (0.1, 0.5, 0.9, 1.0)]
    return " / ".join("-" if m is None else f"{m:.1f}" for m in marks)


def report(cases: list[CaseEvents]) -> None:
    phases = {label: [c.first(kind) for c in cases] for label, kind in PHASES}
    if any(at is None for at in phases["first activity started"]):
        print("some cases had no activity started: not an intake to first contact")
        return
    window_start = min(at for at in phases["started"] if at is not None)
    window_end = max(at for at in phases["first activity started"] if at is not None)
    print(f"{len(cases)} cases, window {(window_end - window_start) / NS_PER_S:.1f} s")
    print("seconds into the window, p10 / p50 / p90 / max")
    for label, times in phases.items():
        into = [(at - window_start) / NS_PER_S for at in times if at is not None]
        print(f"  {label:28s} {spread(into)}")
    print("seconds waited, p10 / p50 / p90 / max")
    for label, since, until in WAITS:
        waits = [
            (end - begin) / NS_PER_S
            for begin, end in zip(phases[since], phases[until], strict=True)
            if begin is not None and end is not None
        ]
        print(f"  {label:28s} {spread(waits)}")
    in_window = Counter(name for c in cases for name, at in c.events if at <= window_end)
    print(f"events a case recorded in the window: {in_window.total() / len(cases):.1f}")
    for name, count in in_window.most_common():
        print(f"  {name:36s} {count / len(cases):.2f}")


def main() -> None:
    folder = Path(sys.argv[1])
    path = Path(sys.argv[2]) if len(sys.argv) > 2 else max(folder.glob("events-*.csv"))
    report(read_events(path))


if __name__ == "__main__":
    main()
