"""The worker process's cycle collector: young collections rarer, what is loaded at start set
aside (`runtime.collector`). In a process of its own: the setting is the process's."""

from __future__ import annotations

import json
import subprocess
import sys

from runtime import collector

REPORT = """
import gc, json
import worker
from runtime import collector
before = gc.get_threshold()
collector.tune_for_cases()
print(json.dumps({"before": before, "after": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
"""


def test_a_worker_process_collects_young_objects_less_often_and_sets_aside_its_start() -> None:
    done = subprocess.run(
        [sys.executable, "-c", REPORT], capture_output=True, text=True, timeout=60, check=True
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    young, middle, old = report["after"]
    assert young == collector.YOUNG_THRESHOLD > report["before"][0]
    # The full collections keep their own rule: only the young ones are made rarer.
    assert [middle, old] == report["before"][1:]
    # The SDK, SQLAlchemy and the project's modules, loaded at start: never walked again.
    assert report["frozen"] > 50_000
