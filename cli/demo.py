"""The demo: simulated borrowers and agents answer the demo portfolio's cases."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from caseclient.messages import MESSAGES
from domain.case_status import CASE_STAGES, FINAL_STATUSES

BEHAVIOURS = (
    "pays_after_reminder",
    "pays_in_parts",
    "partial_then_stops",
    "never_pays",
    "disputes",
    "keeps_promise",
    "breaks_promises",
    "completes_plan",
    "breaks_plan",
    "settles",
    LEFT_TO_DESK := "left_to_desk",
)
DISPUTE_SECONDS = 20
DEMO_TIMEOUT_SECONDS = 10.0

# Commitments' dates are dates in the case's calendar: "today" is the case's due date plus its
# days past due (a `demo` day is 2 s). The borrower's dates lie a few days ahead, so a day that
# passes between the status query and the update does not put them in the past.
PROMISE_DAYS_AHEAD = 5  # a promise falls due 5 days after it is made (plus 1 day of grace)
# Where a promise breaker promises: once in each of these stages (3 broken: no more are taken).
PROMISE_STAGES = ("reminder", "phone", "field_visit")
PLAN_DAYS_AHEAD = (3, 10, 17)  # the installments' due dates (first within 30 days)
SETTLEMENT_DAYS_AHEAD = 5
SETTLEMENT_PERCENT = 60  # of the outstanding amount: the operator forgives the rest
# A borrower who keeps a commitment pays on the day before it falls due: a pass of the demo
# every 2 s (one demo day) has two chances before the case's deadline.
PAY_DAYS_EARLY = 1


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
    return _pay(f"demo-{loan_id}-pay-{n}", amount, currency)


def _pay(payment_id: str, amount: int, currency: str) -> DemoAction:
    arg = {"payment_id": payment_id, "amount_minor": amount, "currency": currency, "source": "demo"}
    return DemoAction("record_payment", arg, payment_id)


def case_today(due_date: date, status: Mapping[str, Any]) -> date:
    """Today in the case's calendar, the one its commitments' due dates are compared with."""
    return due_date + timedelta(days=int(status.get("days_past_due") or 0))


def demo_actions(
    behaviour: str,
    status: Mapping[str, Any],
    *,
    now: datetime,
    done: frozenset[str] | set[str] = frozenset(),
    due_date: date | None = None,
) -> list[DemoAction]:
    """What the simulated borrower and agents send next, given a case's `status` answer.

    Pure and deterministic: every message id is derived from the loan id (or is the
    attempt id itself), so sending the same action again changes nothing. `done` holds
    the keys of actions already answered in this run; they are not proposed again. A
    commitment already in `status` (its id is the demo's) is never proposed again either,
    so a second run of the demo sends none twice although its dates would differ.
    `due_date` is the case's (from its start input): without it no commitment is made.
    """
    stage = str(status.get("stage") or "")
    # Nobody simulated answers these cases: their calls and visits wait in the desk for people.
    if behaviour == LEFT_TO_DESK or stage == "closed" or status.get("status") in FINAL_STATUSES:
        return []
    case = _Reading.of(status, stage)
    actions = _borrower_actions(behaviour, case, status, now=now, done=done, due_date=due_date)
    actions += _agent_actions(case.contacts)
    return [action for action in actions if action.key not in done]


@dataclass(frozen=True)
class _Reading:
    """What the borrower and the agents read of an open case's `status` answer."""

    loan_id: str
    stage: str
    currency: str
    outstanding: int
    paid: int
    contacts: list[Mapping[str, Any]]
    paid_ids: set[Any]
    holds: dict[Any, Mapping[str, Any]]

    @classmethod
    def of(cls, status: Mapping[str, Any], stage: str) -> _Reading:
        return cls(
            loan_id=str(status["loan_id"]),
            stage=stage,
            currency=str(status.get("currency") or ""),
            outstanding=int(status.get("outstanding_minor") or 0),
            paid=int(status.get("paid_minor") or 0),
            contacts=list(status.get("contacts") or []),
            paid_ids={p.get("payment_id") for p in status.get("payments") or []},
            holds={h.get("hold_id"): h for h in status.get("holds") or []},
        )


def _borrower_actions(
    behaviour: str,
    case: _Reading,
    status: Mapping[str, Any],
    *,
    now: datetime,
    done: frozenset[str] | set[str],
    due_date: date | None,
) -> list[DemoAction]:
    """What the borrower sends while something is owed, as its `behaviour` has it."""
    if case.outstanding <= 0:
        return []
    if behaviour in ("pays_after_reminder", "pays_in_parts", "partial_then_stops"):
        return _payments_made(behaviour, case)
    if behaviour == "disputes":
        return _dispute(case, now=now, done=done)
    if behaviour in COMMITMENT_BEHAVIOURS and due_date is not None:
        view = _Case(
            case.loan_id,
            case.currency,
            case.stage,
            case.outstanding,
            case.paid_ids,
            status,
            due_date,
        )
        return COMMITMENT_BEHAVIOURS[behaviour](view)
    return []


def _payments_made(behaviour: str, case: _Reading) -> list[DemoAction]:
    """Payments without a commitment: all after the SMS reminder, or parts of what is owed."""
    loan_id, stage, outstanding, currency = (
        case.loan_id,
        case.stage,
        case.outstanding,
        case.currency,
    )
    total = outstanding + case.paid
    first_paid = f"demo-{loan_id}-pay-1" in case.paid_ids
    second_paid = f"demo-{loan_id}-pay-2" in case.paid_ids
    reminded = any(c.get("channel") == "sms" for c in case.contacts)
    if behaviour == "pays_after_reminder" and not first_paid and reminded:
        return [_payment(loan_id, 1, outstanding, currency)]
    if behaviour == "pays_in_parts" and not first_paid and _reached(stage, "phone"):
        return [_payment(loan_id, 1, max(1, min(outstanding, total // 3)), currency)]
    second_due = first_paid and not second_paid and _reached(stage, "field_visit")
    if behaviour == "pays_in_parts" and second_due:
        return [_payment(loan_id, 2, outstanding, currency)]
    if behaviour == "partial_then_stops" and not first_paid and _reached(stage, "phone"):
        return [_payment(loan_id, 1, max(1, min(outstanding, total // 4)), currency)]
    return []


def _dispute(case: _Reading, *, now: datetime, done: frozenset[str] | set[str]) -> list[DemoAction]:
    """In the phone stage the borrower disputes the amount; the hold is released after
    DISPUTE_SECONDS."""
    hold_id = f"demo-{case.loan_id}-dispute"
    hold = case.holds.get(hold_id)
    if hold is None and case.stage == "phone" and f"place_hold:{hold_id}" not in done:
        arg = {"hold_id": hold_id, "kind": "dispute", "reason": "borrower disputes amount"}
        return [DemoAction("place_hold", arg, hold_id)]
    if hold is not None and _older_than(hold.get("placed_at"), now, DISPUTE_SECONDS):
        return [DemoAction("release_hold", {"hold_id": hold_id}, hold_id)]
    return []


@dataclass(frozen=True)
class _Work:
    """A kind of work the case queues for people, and how the demo's people record it."""

    channel: str
    waiting: str  # the contact's result while the work awaits its outcome
    update: str  # its argument's id field is `caseclient.messages.MESSAGES`'s
    outcomes: tuple[str, str]  # taken alternately
    note: str


_QUEUED_WORK = (
    _Work("call", "queued", "record_contact_outcome", ("no_answer", "reached"), "demo agent"),
    _Work("field_visit", "booked", "record_visit_outcome", ("not_home", "met"), "demo field team"),
)


def _agent_actions(contacts: list[Mapping[str, Any]]) -> list[DemoAction]:
    """Call agents and the field team record the outcome of each queued call and booked
    visit: alternately nobody there and the borrower reached."""
    actions: list[DemoAction] = []
    for work in _QUEUED_WORK:
        items = [c for c in contacts if c.get("channel") == work.channel]
        for position, item in enumerate(items):
            if item.get("result") == work.waiting:
                message_id = str(item["attempt_id"])
                outcome = work.outcomes[position % 2]
                _, id_field = MESSAGES[work.update]
                arg = {id_field: message_id, "outcome": outcome, "note": work.note}
                actions.append(DemoAction(work.update, arg, message_id))
    return actions


# -- commitments ------------------------------------------------------------------------
@dataclass(frozen=True)
class _Case:
    """What a commitment behaviour reads of a case's `status`."""

    loan_id: str
    currency: str
    stage: str
    outstanding: int
    paid_ids: set[Any]
    status: Mapping[str, Any]
    due_date: date

    @property
    def today(self) -> date:
        return case_today(self.due_date, self.status)

    def part(self, key: str) -> Mapping[str, Any] | None:
        value = self.status.get(key)
        return value if isinstance(value, Mapping) else None

    def ours(self, key: str, id_key: str, message_id: str) -> Mapping[str, Any] | None:
        """The status's promise / plan / settlement if it is the one with `message_id`."""
        part = self.part(key)
        return part if part is not None and part.get(id_key) == message_id else None

    @property
    def committed(self) -> bool:
        """A promise is pending or a plan is active: no other commitment is proposed."""
        promise, plan = self.part("promise"), self.part("plan")
        return bool(
            (promise and promise.get("state") == "pending")
            or (plan and plan.get("state") == "active")
        )

    def falls_due(self, due: Any) -> bool:
        """Today is the day to pay something due on `due` (ISO text)."""
        try:
            day = date.fromisoformat(str(due))
        except ValueError:
            return False
        return self.today >= day - timedelta(days=PAY_DAYS_EARLY)

    def pay_once(self, payment_id: str, amount: int) -> list[DemoAction]:
        if payment_id in self.paid_ids or amount <= 0:
            return []
        return [_pay(payment_id, amount, self.currency)]


def _promise(case: _Case, promise_id: str, amount: int) -> DemoAction:
    due = case.today + timedelta(days=PROMISE_DAYS_AHEAD)
    arg = {"promise_id": promise_id, "amount_minor": amount, "due_date": due.isoformat()}
    return DemoAction("promise_to_pay", arg, promise_id)


def _keeps_promise(case: _Case) -> list[DemoAction]:
    """After the first reminder: promises everything owed and pays it the day before it falls
    due; the promise is kept and the case ends `paid`."""
    promise_id = f"demo-{case.loan_id}-promise"
    promise = case.ours("promise", "promise_id", promise_id)
    if promise is None:
        if case.part("promise") is None and not case.committed and _reached(case.stage, "reminder"):
            return [_promise(case, promise_id, case.outstanding)]
        return []
    if promise.get("state") == "pending" and case.falls_due(promise.get("due_date")):
        owed = int(promise.get("amount_minor") or 0) - int(promise.get("paid_toward_minor") or 0)
        return case.pay_once(f"{promise_id}-pay", min(owed, case.outstanding))
    return []


def _breaks_promises(case: _Case) -> list[DemoAction]:
    """Promises half of what is owed in each of the reminder, phone and field-visit stages and
    never pays: each promise is broken, escalation resumes, and after the third no more are
    taken (so none is made)."""
    if case.stage not in PROMISE_STAGES or case.committed:
        return []
    promise_id = f"demo-{case.loan_id}-promise-{case.stage}"
    if case.ours("promise", "promise_id", promise_id) is not None:
        return []  # made in this stage already (kept in status as the latest promise)
    return [_promise(case, promise_id, max(1, case.outstanding // 2))]


def _plan_installments(case: _Case) -> list[dict[str, Any]]:
    """The outstanding amount in (up to) three installments, the rest in the last one."""
    count = min(len(PLAN_DAYS_AHEAD), case.outstanding)
    share = case.outstanding // count
    amounts = [share] * (count - 1) + [case.outstanding - share * (count - 1)]
    return [
        {"due_date": (case.today + timedelta(days=days)).isoformat(), "amount_minor": amount}
        for days, amount in zip(PLAN_DAYS_AHEAD, amounts, strict=False)
    ]


def _plan(case: _Case, *, installments_paid: int | None) -> list[DemoAction]:
    """In the phone stage: agrees a plan of three installments summing to what is owed, then
    pays each installment the day before it falls due; with `installments_paid`, only that
    many, so the next one is missed and the plan breaks."""
    plan_id = f"demo-{case.loan_id}-plan"
    plan = case.ours("plan", "plan_id", plan_id)
    if plan is None:
        if case.part("plan") is None and not case.committed and _reached(case.stage, "phone"):
            arg = {"plan_id": plan_id, "installments": _plan_installments(case)}
            return [DemoAction("propose_plan", arg, plan_id)]
        return []
    if plan.get("state") != "active":
        return []
    installments = [i for i in plan.get("installments") or [] if isinstance(i, Mapping)]
    for position, installment in enumerate(installments, start=1):
        if installment.get("state") != "due":
            continue
        if installments_paid is not None and position > installments_paid:
            return []
        if not case.falls_due(installment.get("due_date")):
            return []
        owed = int(installment.get("amount_minor") or 0) - int(installment.get("paid_minor") or 0)
        return case.pay_once(f"{plan_id}-{position}", min(owed, case.outstanding))
    return []


def _completes_plan(case: _Case) -> list[DemoAction]:
    return _plan(case, installments_paid=None)


def _breaks_plan(case: _Case) -> list[DemoAction]:
    return _plan(case, installments_paid=1)


def _settles(case: _Case) -> list[DemoAction]:
    """In the field-visit stage an operator approves a settlement of 60 % of what is owed,
    due in 5 days; the borrower pays it the day before and the case ends `settled`."""
    settlement_id = f"demo-{case.loan_id}-settlement"
    settlement = case.ours("settlement", "settlement_id", settlement_id)
    if settlement is None:
        amount = case.outstanding * SETTLEMENT_PERCENT // 100
        if (
            case.part("settlement") is None
            and not case.committed
            and _reached(case.stage, "field_visit")
            and 0 < amount < case.outstanding
        ):
            due = case.today + timedelta(days=SETTLEMENT_DAYS_AHEAD)
            arg = {
                "settlement_id": settlement_id,
                "amount_minor": amount,
                "due_date": due.isoformat(),
            }
            return [DemoAction("agree_settlement", arg, settlement_id)]
        return []
    if settlement.get("state") == "pending" and case.falls_due(settlement.get("due_date")):
        amount = min(int(settlement.get("amount_minor") or 0), case.outstanding)
        return case.pay_once(f"{settlement_id}-pay", amount)
    return []


COMMITMENT_BEHAVIOURS: dict[str, Callable[[_Case], list[DemoAction]]] = {
    "keeps_promise": _keeps_promise,
    "breaks_promises": _breaks_promises,
    "completes_plan": _completes_plan,
    "breaks_plan": _breaks_plan,
    "settles": _settles,
}


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
