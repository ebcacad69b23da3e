"""The `status` query's answer (see CONTRACT.md), as typed records.

`StatusView.of(state, days_past_due).as_json()` is the answer: the fields below, in this
order, with these names; nested records become objects, dates ISO strings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, TypeVar

from domain.clock import bucket
from domain.commitments import Plan, Promise, Settlement
from domain.routing import Strategy

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from domain.case_core import CaseCore

View = TypeVar("View", bound="DataclassInstance")


def _view_of(view: type[View], commitment: Promise | Settlement) -> View:
    """The view's fields read by name from the commitment, its due date as an ISO string."""
    values = {field.name: getattr(commitment, field.name) for field in fields(view)}
    return view(**values | {"due_date": commitment.due_date.isoformat()})


@dataclass(frozen=True)
class PromiseView:
    promise_id: str
    amount_minor: int
    due_date: str
    state: str
    paid_toward_minor: int
    shortfall_minor: int
    # Who sent it, when known (here and in plans, settlements and holds).
    source: str | None

    @classmethod
    def of(cls, promise: Promise) -> PromiseView:
        return _view_of(cls, promise)


@dataclass(frozen=True)
class InstallmentView:
    due_date: str
    amount_minor: int
    paid_minor: int
    state: str


@dataclass(frozen=True)
class PlanView:
    plan_id: str
    state: str
    began_in_stage: str
    installments: list[InstallmentView]
    source: str | None

    @classmethod
    def of(cls, plan: Plan) -> PlanView:
        return cls(
            plan_id=plan.plan_id,
            state=plan.state,
            began_in_stage=plan.began_in_stage,
            installments=[
                InstallmentView(i.due_date.isoformat(), i.amount_minor, i.paid_minor, i.state)
                for i in plan.installments
            ],
            source=plan.source,
        )


@dataclass(frozen=True)
class SettlementView:
    settlement_id: str
    amount_minor: int
    due_date: str
    state: str
    forgiven_minor: int
    source: str | None

    @classmethod
    def of(cls, settlement: Settlement) -> SettlementView:
        return _view_of(cls, settlement)


@dataclass(frozen=True)
class HoldView:
    hold_id: str
    kind: str
    reason: str
    placed_at: str
    source: str | None


@dataclass(frozen=True)
class LegalView:
    stage: str
    events: list[dict[str, Any]]


@dataclass(frozen=True)
class ContactView:
    attempt_id: str
    channel: str
    template: str
    at: str
    result: str


@dataclass(frozen=True)
class PaymentView:
    payment_id: str
    amount_minor: int
    at: str
    source: str | None
    recovery: bool
    allocation: dict[str, int] | None


@dataclass(frozen=True)
class RejectedCounts:
    payments: int
    plans: int
    adjustments: int


@dataclass(frozen=True)
class BalanceView:
    principal_minor: int
    interest_minor: int
    fees_minor: int
    penalty_minor: int
    as_of: str | None


@dataclass(frozen=True)
class StatusView:
    loan_id: str
    stage: str
    status: str
    days_past_due: int
    bucket: str
    currency: str
    outstanding_minor: int
    paid_minor: int
    overpaid_minor: int
    recovered_minor: int
    policy: str
    portfolio: str
    holds: list[HoldView]
    promise: PromiseView | None
    broken_promises: int
    plan: PlanView | None
    settlement: SettlementView | None
    legal: LegalView | None
    next_action: dict[str, Any] | None
    closed_at: str | None
    contacts: list[ContactView]
    payments: list[PaymentView]
    rejected_payments: list[dict[str, Any]]
    rejected_plans: list[dict[str, Any]]
    balance: BalanceView
    rejected_adjustments: list[dict[str, Any]]
    # How many there were in all: the lists above keep the latest REJECTIONS_KEPT.
    rejected_counts: RejectedCounts
    # The desk user responsible for the case; None before phone collection or with nobody in
    # the team.
    assignee: str | None
    # {"policy", "experiment", "arm"}: how routing chose the policy (no experiment: nulls).
    strategy: dict[str, str | None]

    @classmethod
    def of(cls, state: CaseCore, days_past_due: int) -> StatusView:
        case = state.case
        legal_stage = state.legal_stage
        return cls(
            loan_id=case.loan_id,
            stage=state.stage,
            status=state.status,
            days_past_due=days_past_due,
            bucket=bucket(days_past_due),
            currency=case.currency,
            outstanding_minor=state.outstanding_minor,
            paid_minor=state.paid_minor,
            overpaid_minor=state.overpaid_minor,
            recovered_minor=state.recovered_minor,
            policy=case.policy,
            portfolio=case.portfolio,
            holds=[HoldView(**asdict(hold)) for hold in state.holds.values()],
            promise=PromiseView.of(state.promise) if state.promise else None,
            broken_promises=state.broken_promises,
            plan=PlanView.of(state.plan) if state.plan else None,
            settlement=SettlementView.of(state.settlement) if state.settlement else None,
            legal=LegalView(legal_stage, list(state.legal_events)) if legal_stage else None,
            next_action=state.next_action,
            closed_at=state.closed_at.isoformat() if state.closed_at else None,
            contacts=[
                ContactView(c.attempt_id, c.channel, c.template, c.at, c.result)
                for c in state.contacts
            ],
            payments=[
                PaymentView(p.payment_id, p.amount_minor, p.at, p.source, p.recovery, p.allocation)
                for p in state.payments
            ],
            rejected_payments=list(state.rejected_payments),
            rejected_plans=list(state.rejected_plans),
            balance=BalanceView(**state.current_debt.parts.as_json(), as_of=state.balance_as_of),
            rejected_adjustments=list(state.rejected_adjustments),
            rejected_counts=RejectedCounts(
                state.rejected_payment_count,
                state.rejected_plan_count,
                state.rejected_adjustment_count,
            ),
            assignee=state.assignee,
            strategy=(state.strategy or Strategy(policy=case.policy)).as_json(),
        )

    def as_json(self) -> dict[str, Any]:
        """The answer as the contract states it: plain objects, lists and values.

        A commitment's or hold's `source` shows only when its message named one: the contract's
        objects stay as they were for every caller that sends none (a payment's `source` is the
        contract's own, null included)."""
        view = asdict(self)
        sourced = [view[key] for key in ("promise", "plan", "settlement") if view[key]]
        for entry in [*sourced, *view["holds"]]:
            if entry.get("source") is None:
                entry.pop("source", None)
        return view
