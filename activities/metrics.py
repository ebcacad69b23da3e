"""Business metrics of the worker, for Prometheus: what the activities wrote, counted as they
write it, and the open cases by stage, read from the case database when scraped.

Counters count a fact once, when its row is first written: the activities call `observe_*`
only where a row was newly inserted or changed, so a retried activity that finds its own
earlier row counts nothing. Each worker process counts its own writes; `sum()` across
processes is the total. Counts are kept in memory: a process that dies between its write and
its count loses that one count, never counts twice (Prometheus' `rate()` handles the restart).

Labels are bounded sets (channels, results, statuses, event kinds, ISO currencies, rule names):
never an id, never anything about a borrower.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlmodel import col, select

from activities.store import Store
from contracts import CONTACT_BLOCKED, CONTACT_DEFERRED, CaseEvent, PaymentRecord
from domain.audit import AuditKind
from domain.case_status import CASE_STAGES
from migrations.tables import CaseRow, ContactAttemptRow

log = logging.getLogger(__name__)

# The worker's own registry: the endpoint serves exactly this beside the SDK's metrics.
REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)


def _counter(name: str, documentation: str, *labels: str) -> Counter:
    """A counter of the worker's registry, by `labels`."""
    return Counter(name, documentation, labels, registry=REGISTRY)


CASES_OPENED = _counter(
    "collections_cases_opened",
    "Cases prepared (recorded in the case database) for the first time.",
    "policy",
)
CASES_CLOSED = _counter(
    "collections_cases_closed",
    "Cases closed, by final status (paid, plan_completed, settled, written_off, cancelled).",
    "status",
)
CONTACTS = _counter(
    "collections_contacts",
    "Contact attempts by channel and result (sent, skipped_no_contact, queued, booked, "
    "referred, failed, blocked).",
    "channel",
    "result",
)
CONTACTS_BLOCKED = _counter(
    "collections_contacts_blocked",
    "Contact attempts a rule kept from leaving (opt-out, undeliverable, ...), by rule.",
    "channel",
    "rule",
)
PAYMENTS = _counter(
    "collections_payments",
    "Payments received, by currency and result (applied, duplicate, rejected).",
    "currency",
    "result",
)
PAYMENT_AMOUNT = _counter(
    "collections_payment_amount_minor",
    "Amount of the payments received, in minor units (fen, cents), by currency and result.",
    "currency",
    "result",
)
BOOKKEEPING_FAILURES = _counter(
    "collections_bookkeeping_failures",
    "Batches of case records the database did not take (each is kept by its case and sent "
    "again), by error (CaseNotFound, OperationalError, ...).",
    "error",
)
CASE_EVENTS = _counter(
    "collections_case_events",
    "Lines written to the cases' audit logs, by kind (hold_placed, promise_kept, closed, ...).",
    "kind",
)

# Contact attempts with no result yet: the send is still to come.
NO_RESULT_YET = "pending"
# A rejected payment may name any currency, or none; a label keeps to ISO codes.
ISO_CURRENCY = re.compile(r"[A-Z]{3}")
UNKNOWN_CURRENCY = "unknown"
# A blocked attempt's note that is not a rule name (free text) is counted under this rule.
OTHER = "other"
RULE_NAME = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
OPEN_STAGES = tuple(stage for stage in CASE_STAGES if stage != "closed")


def observe_bookkeeping_failure(error: Exception) -> str:
    """Count a batch of case records that was not stored; returns the error's kind."""
    kind = getattr(error, "type", None) or type(error).__name__
    kind = kind if RULE_NAME.fullmatch(kind.lower()) else OTHER
    BOOKKEEPING_FAILURES.labels(error=kind).inc()
    return kind


def observe_case_opened(policy: str) -> None:
    CASES_OPENED.labels(policy=policy).inc()


def observe_attempt(row: ContactAttemptRow) -> None:
    """A contact attempt whose result was just written; one still pending counts later."""
    if row.status == NO_RESULT_YET:
        return
    if row.status == CONTACT_BLOCKED or row.result == CONTACT_BLOCKED:
        observe_contact(row.channel, CONTACT_BLOCKED, rule=row.note)
    else:
        observe_contact(row.channel, row.result or row.status)


def observe_contact(channel: str, result: str, *, rule: str | None = None) -> None:
    """One contact's result; a blocked or deferred one also by the rule that held it back."""
    CONTACTS.labels(channel=channel, result=result).inc()
    if result in (CONTACT_BLOCKED, CONTACT_DEFERRED):
        name = rule if rule is not None and RULE_NAME.fullmatch(rule) else OTHER
        CONTACTS_BLOCKED.labels(channel=channel, rule=name).inc()


def observe_payment(record: PaymentRecord, *, result: str | None = None) -> None:
    """A payment newly stored: its status, or `result` (duplicate) where the store saw one."""
    currency = record.currency or ""
    if not ISO_CURRENCY.fullmatch(currency):
        currency = UNKNOWN_CURRENCY
    labels = {"currency": currency, "result": result or record.status}
    PAYMENTS.labels(**labels).inc()
    if record.amount_minor is not None and record.amount_minor > 0:
        PAYMENT_AMOUNT.labels(**labels).inc(record.amount_minor)


def observe_case_event(case_event: CaseEvent) -> None:
    """An audit line newly written; the `closed` line is the case's close, once per case."""
    CASE_EVENTS.labels(kind=case_event.kind).inc()
    if case_event.kind == AuditKind.CLOSED:
        CASES_CLOSED.labels(status=str(case_event.detail.get("status"))).inc()


class OpenCasesCollector(Collector):
    """`collections_open_cases{stage}`, counted in the case database at scrape time.

    A gauge kept by each worker would only know the cases that worker happened to run; the
    database knows all of them, whichever worker wrote them. The answer is kept `max_age`
    seconds, so several scrapers (or a dashboard refreshing) cost one query.
    """

    def __init__(
        self, store: Store, *, max_age: float = 15.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.store = store
        self.max_age = max_age
        self.clock = clock
        self._lock = threading.Lock()
        self._counts: Mapping[str, int] | None = None
        self._next_query_at = float("-inf")

    def describe(self) -> Iterable[Metric]:
        # Registering must not query the database.
        return [self._family()]

    def collect(self) -> Iterable[Metric]:
        counts = self.counts()
        if counts is None:
            return []
        family = self._family()
        for stage in sorted({*OPEN_STAGES, *counts}):
            family.add_metric([stage], counts.get(stage, 0))
        return [family]

    def counts(self) -> Mapping[str, int] | None:
        """Open cases by stage, at most `max_age` seconds old; None if the database failed."""
        with self._lock:
            now = self.clock()
            if now >= self._next_query_at:
                # A failed query waits its turn too: a database that is down must not make
                # every scrape wait for its connect timeout.
                self._next_query_at = now + self.max_age
                try:
                    self._counts = self._query()
                except Exception:
                    # The scrape still answers with the rest; this gauge is left out rather
                    # than reported stale.
                    log.warning("open cases by stage: the case database failed", exc_info=True)
                    self._counts = None
            return self._counts

    def _query(self) -> dict[str, int]:
        statement = (
            select(CaseRow.stage, func.count())
            .where(col(CaseRow.closed_at).is_(None))
            .group_by(CaseRow.stage)
        )
        with self.store.reading() as session:
            return {stage: int(count) for stage, count in session.exec(statement).all()}

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "collections_open_cases",
            "Open cases (not closed) by stage, counted in the case database.",
            labels=["stage"],
        )
