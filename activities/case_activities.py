"""The activities of a collection case: every piece of I/O the workflow needs.

Each activity is idempotent by the key the workflow chose (case id, attempt id, record id,
event key, referral id): it records its intent in the database before acting, and a retry or
re-run that finds the record returns the stored result instead of acting again. The methods
are synchronous (sqlmodel is), so the worker runs them in a thread pool.

The borrower's name and contact details are read from the case database (`borrowers`) by
borrower id when an activity needs them: inputs and results of activities stay in Temporal's
history, so they carry ids only. Logs carry loan and case ids only, never the borrower's name
or contact details.

They live by concern: `preparation` (prepare_case), `sending` (send_notice, through the outbox
of `outbox` and `contacting`), `field_work` (queue_call, book_field_visit), `legal`
(hand_off_to_legal, with `evidence`), `bookkeeping` (store_case_records) and `assignment`
(assign_collector, the rota of collectors).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from activities.assignment import Assignment
from activities.field_work import FieldWork
from activities.legal import LegalHandOff
from activities.notify import notifier_from_env
from activities.preparation import Preparation
from activities.sending import NoticeSending
from activities.store import Store
from runtime import settings


class CollectionActivities(Preparation, NoticeSending, FieldWork, LegalHandOff, Assignment):
    """Every activity of a case, over one database, evidence folder and set of providers."""

    @classmethod
    def from_env(cls) -> CollectionActivities:
        """Database, evidence folder and providers as configured in the environment."""
        store = Store.from_env()
        store.require_current_schema()
        return cls(store, settings.evidence_dir(), notifier_from_env())

    def all(self) -> Sequence[Callable[..., Any]]:
        """Every activity, bound to this instance, for `Worker(activities=...)`."""
        return [
            self.prepare_case,
            self.send_notice,
            self.queue_call,
            self.book_field_visit,
            self.hand_off_to_legal,
            self.store_case_records,
            self.assign_collector,
        ]
