"""Opening cases on the dev server: the quiet ones, and intake until each first contact."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import structlog
from bench_cases import POLL_SECONDS, TIMEZONE, days_ago, rounded, start_cases
from figures import percentile
from temporalio.client import Client

log = structlog.get_logger("bench")

# Outbox states of a contact that went out (the others: pending, skipped, failed).
CONTACT_STATES = ("sent", "queued", "booked", "referred")
# Borrowers' timezones to choose from for the import-style intake: one of them has its contact
# window (08:00-21:00) open for the whole run, whatever the hour the benchmark runs at.
DAYTIME_CANDIDATES = (
    "Asia/Shanghai",
    "Asia/Kolkata",
    "Europe/Berlin",
    "America/Sao_Paulo",
    "America/New_York",
    "America/Los_Angeles",
    "Pacific/Honolulu",
    "Pacific/Auckland",
    "Asia/Tokyo",
)


@dataclass(frozen=True)
class Intake:
    """Cases per second from the first start to the last first contact, and when the first
    contacts came: whether the intake is a steady pace or a tail of late cases."""

    cases_per_s: float | None
    # Seconds (to a tenth) from the first start to the first contact of the 10th, 50th and 90th
    # percentile.
    first_contact_s: dict[str, float | None]


def daytime_zone(now: datetime) -> str:
    """A timezone where it is now between 09:00 and 19:00."""
    return next(
        zone for zone in DAYTIME_CANDIDATES if 9 <= now.astimezone(ZoneInfo(zone)).hour < 19
    )


def first_contacts(database: Path) -> dict[str, datetime]:
    """Loan id -> when its first contact went out, read from the outbox.

    A read-only connection of its own: the project's engine takes the write lock on every
    transaction, which would compete with the worker.
    """
    sql = (
        "SELECT loan_id, min(coalesce(sent_at, created_at)) FROM contact_attempts"
        f" WHERE status IN ({', '.join('?' for _ in CONTACT_STATES)}) GROUP BY loan_id"
    )
    try:
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            rows = db.execute(sql, CONTACT_STATES).fetchall()
    except sqlite3.OperationalError:  # no outbox yet
        return {}
    return {loan_id: datetime.fromisoformat(at) for loan_id, at in rows}


async def open_quiet_cases(
    client: Client, loan_ids: list[str], expected: int | None = None
) -> None:
    """Start `default` cases due yesterday and wait until each is prepared and asleep.

    A case is in the case table while its first workflow task still runs (preparation is a
    local activity); the search attributes it publishes when that task completes tell that
    it is done. Only these cases have the `default` policy on the dev server: `expected` is
    how many there are with these (default: these alone).
    """
    # DPD 1: in grace, the first reminder (DPD 3) days away, so each case goes to sleep.
    await start_cases(client, loan_ids, days_ago(datetime.now(UTC), 1), "default")
    query = 'WorkflowType = "CollectionCase" AND CollectionPolicy = "default"'
    deadline = time.monotonic() + 60 + len(loan_ids)
    while (await client.count_workflows(query)).count < (expected or len(loan_ids)):
        if time.monotonic() > deadline:
            raise RuntimeError("the quiet cases were not all prepared")
        await asyncio.sleep(POLL_SECONDS)


async def measure_intake(
    client: Client,
    loan_ids: list[str],
    database: Path,
    policy: str = "demo",
    timezone: str = TIMEZONE,
) -> Intake:
    """Cases per second from the first start until every case's first contact went out."""
    # Due 4 days ago: DPD 4 at opening is past the first SMS (DPD 3), so it is due at once.
    due = days_ago(datetime.now(UTC), 4, timezone)
    started = time.time()
    await start_cases(client, loan_ids, due, policy, timezone)
    wanted = set(loan_ids)
    deadline = time.monotonic() + 60 + len(loan_ids)
    contacts: dict[str, datetime] = {}
    while len(contacts) < len(loan_ids) and time.monotonic() < deadline:
        await asyncio.sleep(POLL_SECONDS)
        found = await asyncio.to_thread(first_contacts, database)
        contacts = {loan_id: at for loan_id, at in found.items() if loan_id in wanted}
    after_start = [at.timestamp() - started for at in contacts.values()]
    spread = {f"p{q}": rounded(percentile(after_start, q / 100), 1) for q in (10, 50, 90)}
    if len(contacts) < len(loan_ids):
        log.warning("first contacts missing at the deadline", reached=len(contacts))
        return Intake(None, spread)
    return Intake(len(loan_ids) / max(after_start), spread)
