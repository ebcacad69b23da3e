"""Python's cycle collector, set for a worker's heap.

A worker keeps thousands of cases in memory (WORKER_CACHED_CASES), and a full collection walks
every object of them: with the defaults (a young collection every 700 new objects, a full one
whenever the old objects grew by a quarter) a thousand cases opening at once paid 14 full
collections of 0.3-0.8 s each, every thread of the process stopped meanwhile. A young collection
every 50,000 new objects leaves the full ones rare (the rules above them are Python's own: a
middle collection every ten young ones, a full one every ten middle ones once the old objects
grew by a quarter), and what is loaded at start (about 150,000 objects: the SDK, SQLAlchemy,
the policies) is set aside, never walked again (docs/benchmarks.md).
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000


def tune_for_cases() -> None:
    """Collect cycles less often (YOUNG_THRESHOLD), and never walk what is loaded by now."""
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
