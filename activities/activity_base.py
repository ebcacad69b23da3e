"""What every case activity works with: the case database, the evidence folder, the providers.

The activities are grouped by concern in their own modules (preparation, sending, field work,
legal, bookkeeping), each a class built on this one; `activities.case_activities` composes
them into the one `CollectionActivities` the worker registers.
"""

from __future__ import annotations

from pathlib import Path

from activities.notify import Notifier
from activities.store import Store


class ActivityBase:
    def __init__(self, store: Store, evidence_dir: Path, notifier: Notifier) -> None:
        self.store = store
        self.evidence_dir = evidence_dir
        self.notifier = notifier
