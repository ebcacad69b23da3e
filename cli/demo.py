"""The demo: simulated borrowers and agents answer the demo portfolio's cases."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client, WorkflowUpdateFailedError

from cli.console import out
from cli.csv_import import CsvCase
from cli.updates import call_update, query_status, rejection
from domain.case_state import CASE_STAGES, FINAL_STATUSES

BEHAVIOURS = (
    "pays_after_reminder",
    "pays_in_parts",
    "partial_then_stops",
    "never_pays",
    "disputes",
)
DISPUTE_SECONDS = 20
DEMO_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class DemoAction:
    update: str
    arg: dict[str, Any]
    message_id: str

    @property
    def key(self) -> str:
        return f"{self.update}:{self.message_id}"


def _reached(stage: str, target: str) -> bool:
    return stage in CASE_STAGES and CASE_STAGES.index(stage) >= CASE_STAGES.index(target)


def _payment(loan_id: str, n: int, amount: int, currency: str) -> DemoAction:
    payment_id = f"demo-{loan_id}-pay-{n}"
    arg = {"payment_id": payment_id, "amount_minor": amount, "currency": currency, "source": "demo"}
    return DemoAction("record_payment", arg, payment_id)


def demo_actions(
    behaviour: str,
    status: Mapping[str, Any],
    *,
    now: datetime,
    done: frozenset[str] | set[str] = frozenset(),
) -> list[DemoAction]:
    """What the simulated borrower and agents send next, given a case's `status` answer.

    Pure and deterministic: every message id is derived from the loan id (or is the
    attempt id itself), so sending the same action again changes nothing. `done` holds
    the keys of actions already answered in this run; they are not proposed again.
    """
    stage = str(status.get("stage") or "")
    if stage == "closed" or status.get("status") in FINAL_STATUSES:
        return []
    loan_id = str(status["loan_id"])
    currency = str(status.get("currency") or "")
    outstanding = int(status.get("outstanding_minor") or 0)
    paid = int(status.get("paid_minor") or 0)
    total = outstanding + paid
    contacts: list[Mapping[str, Any]] = list(status.get("contacts") or [])
    paid_ids = {p.get("payment_id") for p in status.get("payments") or []}
    holds = {h.get("hold_id"): h for h in status.get("holds") or []}
    actions: list[DemoAction] = []

    # -- the borrower --------------------------------------------------------------
    first, second = f"demo-{loan_id}-pay-1", f"demo-{loan_id}-pay-2"
    if outstanding > 0:
        if behaviour == "pays_after_reminder":
            if first not in paid_ids and any(c.get("channel") == "sms" for c in contacts):
                actions.append(_payment(loan_id, 1, outstanding, currency))
        elif behaviour == "pays_in_parts":
            if first not in paid_ids and _reached(stage, "phone"):
                actions.append(_payment(loan_id, 1, max(1, min(outstanding, total // 3)), currency))
            elif first in paid_ids and second not in paid_ids and _reached(stage, "field_visit"):
                actions.append(_payment(loan_id, 2, outstanding, currency))
        elif behaviour == "partial_then_stops":
            if first not in paid_ids and _reached(stage, "phone"):
                actions.append(_payment(loan_id, 1, max(1, min(outstanding, total // 4)), currency))
        elif behaviour == "disputes":
            hold_id = f"demo-{loan_id}-dispute"
            hold = holds.get(hold_id)
            if hold is None and stage == "phone" and f"place_hold:{hold_id}" not in done:
                arg = {"hold_id": hold_id, "kind": "dispute", "reason": "borrower disputes amount"}
                actions.append(DemoAction("place_hold", arg, hold_id))
            elif hold is not None and _older_than(hold.get("placed_at"), now, DISPUTE_SECONDS):
                actions.append(DemoAction("release_hold", {"hold_id": hold_id}, hold_id))

    # -- the agents ----------------------------------------------------------------
    calls = [c for c in contacts if c.get("channel") == "call"]
    for position, call in enumerate(calls):
        if call.get("result") == "queued":
            outcome = "no_answer" if position % 2 == 0 else "reached"
            attempt_id = str(call["attempt_id"])
            arg = {"attempt_id": attempt_id, "outcome": outcome, "note": "demo agent"}
            actions.append(DemoAction("record_contact_outcome", arg, attempt_id))
    visits = [c for c in contacts if c.get("channel") == "field_visit"]
    for position, visit in enumerate(visits):
        if visit.get("result") == "booked":
            outcome = "not_home" if position % 2 == 0 else "met"
            visit_id = str(visit["attempt_id"])
            arg = {"visit_id": visit_id, "outcome": outcome, "note": "demo field team"}
            actions.append(DemoAction("record_visit_outcome", arg, visit_id))
    return [action for action in actions if action.key not in done]


def _older_than(placed_at: Any, now: datetime, seconds: int) -> bool:
    """True once `placed_at` (ISO text) lies `seconds` or more before `now`; unknown: True."""
    if not isinstance(placed_at, str):
        return True
    try:
        placed = datetime.fromisoformat(placed_at)
    except ValueError:
        return True
    if placed.tzinfo is None:
        placed = placed.replace(tzinfo=UTC)
    return (now - placed).total_seconds() >= seconds


def _brief(error: BaseException) -> str:
    """An error in one short line: its type and the start of its message (no case data)."""
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message[:100]}" if message else type(error).__name__


def _log(text: str) -> None:
    out(f"{datetime.now().strftime('%H:%M:%S')} {text}")


async def demo_pass(
    client: Client,
    cases: Sequence[CsvCase],
    *,
    done: dict[str, set[str]],
    stages: dict[str, str],
    closed: set[str],
) -> None:
    """Query every open demo case once and send what its simulated people would send."""

    async def one(item: CsvCase) -> None:
        loan_id = item.loan_id
        try:
            status = await query_status(client, loan_id, timeout=DEMO_TIMEOUT_SECONDS)
        except Exception as error:
            _log(f"{loan_id} status not available ({_brief(error)}); retrying later")
            return
        stage = str(status.get("stage"))
        if stages.get(loan_id) != stage:
            _log(
                f"{loan_id} stage {stages.get(loan_id, '-')} -> {stage} "
                f"(DPD {status.get('days_past_due')}, {status.get('status')})"
            )
            stages[loan_id] = stage
        if stage == "closed" or status.get("status") in FINAL_STATUSES:
            closed.add(loan_id)
            return
        sent = done.setdefault(loan_id, set())
        for action in demo_actions(item.behaviour, status, now=datetime.now(UTC), done=sent):
            try:
                answer = await call_update(
                    client,
                    loan_id,
                    action.update,
                    action.arg,
                    timeout=DEMO_TIMEOUT_SECONDS,
                )
            except WorkflowUpdateFailedError as error:
                kind, message = rejection(error)
                _log(f"{loan_id} {action.update} {action.message_id} rejected ({kind}): {message}")
                sent.add(action.key)  # a rejection is final for this id
                continue
            except Exception as error:
                _log(f"{loan_id} {action.update} failed ({_brief(error)}); retrying later")
                continue
            sent.add(action.key)
            _log(f"{loan_id} {action.update} {action.message_id} -> {answer.get('status')}")

    await asyncio.gather(*(one(item) for item in cases if item.loan_id not in closed))


async def run_demo(
    client: Client, cases: Sequence[CsvCase], *, once: bool, interval: float
) -> None:
    done: dict[str, set[str]] = {}
    stages: dict[str, str] = {}
    closed: set[str] = set()
    while True:
        await demo_pass(client, cases, done=done, stages=stages, closed=closed)
        if once:
            return
        if len(closed) == len(cases):
            _log("every demo case is closed")
            return
        await asyncio.sleep(interval)
