"""The borrower's commitments on the case: a promise to pay, an installment plan, a
settlement. Taking one pauses collection; a payment keeps it; its deadline passing unkept
lapses it (`Lapse`) and collection resumes (after a broken plan, at the plan's stage)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar

from domain import commitments
from domain.audit import AuditFact, AuditKind, with_source
from domain.case_core import ID_FIELDS
from domain.case_records import keep_rejection
from domain.commitments import (
    CommitmentRules,
    Installment,
    Owed,
    Plan,
    PlanRequest,
    Promise,
    PromiseRequest,
    Settlement,
    SettlementRequest,
)
from domain.decisions import Lapse
from domain.errors import InvalidInput
from domain.ladder_track import LadderTrack

# A commitment's request, as `_take` passes it to what begins the commitment.
Request = TypeVar("Request", PromiseRequest, PlanRequest, SettlementRequest)


class CommitmentTrack(LadderTrack):
    def _is_new_and_free(
        self, kind: str, message_id: str, request: object, pending: Promise | Settlement | None
    ) -> bool:
        """Whether `request` is a new commitment the case is free to weigh: a resend is answered
        as before without being weighed again; a new one is refused while an installment plan
        is active or `pending` (the open commitment it would stand beside) is."""
        if self._check_open_for(kind, message_id, request) is not None:
            return False
        if self.active_plan is not None:
            refusal = (
                f"plan {self.active_plan.plan_id!r} is already active"
                if kind == "plan"
                else "an installment plan is active"
            )
            raise InvalidInput(ID_FIELDS[kind], refusal)
        if pending is not None:
            raise InvalidInput(ID_FIELDS[kind], f"{_named(pending)} is still pending")
        return True

    # -- promises ----------------------------------------------------------------
    def check_promise(self, request: PromiseRequest, rules: CommitmentRules, today: date) -> None:
        if not self._is_new_and_free("promise", request.promise_id, request, self.pending_promise):
            return
        commitments.check_promise(
            request,
            rules,
            today=today,
            owed=self._owed(today),
            broken_promises=self.broken_promises,
        )

    def take_promise(
        self, request: PromiseRequest, rules: CommitmentRules, today: date
    ) -> dict[str, Any]:
        self.check_promise(request, rules, today)
        return self._take("promise", request.promise_id, request, self._begin_promise)

    def _begin_promise(self, request: PromiseRequest) -> AuditFact:
        for task in self.call_tasks.values():
            if task.state == "awaiting_promise":
                task.state = "done"  # the promise made on the call has arrived
        self.promise = Promise(
            promise_id=request.promise_id,
            amount_minor=request.amount_minor,
            due_date=request.due_date,
            paid_before_minor=self.paid_minor,
            source=request.source,
        )
        return AuditFact(AuditKind.PROMISE_MADE, request.promise_id, _amount_by_date(request))

    # -- installment plans -------------------------------------------------------
    def check_plan(self, request: PlanRequest, rules: CommitmentRules, today: date) -> None:
        if not self._is_new_and_free("plan", request.plan_id, request, self.pending_promise):
            return
        commitments.check_plan(request, rules, today=today, owed=self._owed(today))

    def take_plan(
        self, request: PlanRequest, rules: CommitmentRules, today: date
    ) -> dict[str, Any]:
        self.check_plan(request, rules, today)
        return self._take("plan", request.plan_id, request, self._begin_plan)

    def _begin_plan(self, request: PlanRequest) -> AuditFact:
        self.plan = Plan(
            plan_id=request.plan_id,
            installments=[Installment(i.due_date, i.amount_minor) for i in request.installments],
            began_in_stage=self.stage,
            source=request.source,
        )
        return AuditFact(
            AuditKind.PLAN_AGREED,
            request.plan_id,
            with_source(
                {
                    "installments": len(request.installments),
                    "last_due_date": request.installments[-1].due_date.isoformat(),
                },
                request.source,
            ),
        )

    def reject_plan(self, raw: Any, reason: str) -> None:
        """Keep a plan signal the case cannot take, with the reason: nothing sent is lost."""
        plan_id, reason = keep_rejection(self.rejected_plans, "plan_id", raw, reason)
        self.rejected_plan_count += 1
        self.journal.append(
            AuditFact(
                AuditKind.PLAN_REJECTED,
                f"{plan_id}:{self.rejected_plan_count}",
                {"reason": reason},
            )
        )

    # -- settlements -------------------------------------------------------------
    def check_settlement(
        self, request: SettlementRequest, rules: CommitmentRules, today: date
    ) -> None:
        pending = self.pending_settlement
        if not self._is_new_and_free("settlement", request.settlement_id, request, pending):
            return
        commitments.check_settlement(request, rules, today=today, owed=self._owed(today))

    def take_settlement(
        self, request: SettlementRequest, rules: CommitmentRules, today: date
    ) -> dict[str, Any]:
        self.check_settlement(request, rules, today)
        return self._take("settlement", request.settlement_id, request, self._begin_settlement)

    def _begin_settlement(self, request: SettlementRequest) -> AuditFact:
        self.settlement = Settlement(
            settlement_id=request.settlement_id,
            amount_minor=request.amount_minor,
            due_date=request.due_date,
            paid_before_minor=self.paid_minor,
            source=request.source,
        )
        return AuditFact(
            AuditKind.SETTLEMENT_AGREED, request.settlement_id, _amount_by_date(request)
        )

    def _owed(self, today: date) -> Owed:
        """What is owed today: a commitment checked before the case posts today's penalty
        (an update's validator) is judged by the same figure as when it is taken."""
        return Owed(self.owed_on(today).parts.total_minor, self.case.currency)

    def _take(
        self,
        kind: str,
        message_id: str,
        request: Request,
        begin: Callable[[Request], AuditFact],
    ) -> dict[str, Any]:
        """Take a checked commitment: a resend gets its first answer; a new one is begun
        (`begin` puts it on the case and says what to record), changes what the case does next,
        is on record, and its answer is kept for a resend."""
        earlier = self.earlier_answer(kind, message_id, request)
        if earlier is not None:
            return earlier
        fact = begin(request)
        self.revision += 1
        self.journal.append(fact)
        return self._answer(
            kind,
            message_id,
            request,
            {ID_FIELDS[kind]: message_id, "accepted": True, "status": self.status},
        )

    # -- keeping and lapsing -----------------------------------------------------
    def _keep_commitments(self, applied_minor: int, at: datetime) -> None:
        """What a payment does to the borrower's commitments: it counts toward a pending
        promise, is allocated to the plan's installments in order, and toward a settlement."""
        self._paid_on_site()
        promise = self.pending_promise
        if promise is not None:
            promise.paid_toward_minor = self.paid_minor - promise.paid_before_minor
            if promise.paid_toward_minor >= promise.amount_minor:
                promise.state = "kept"
                self.journal.append(
                    AuditFact(
                        AuditKind.PROMISE_KEPT, promise.promise_id, with_source({}, promise.source)
                    )
                )
        plan = self.active_plan
        if plan is not None:
            commitments.allocate(plan.installments, applied_minor)
            if all(i.state == "paid" for i in plan.installments):
                plan.state = "completed"
                self.journal.append(
                    AuditFact(AuditKind.PLAN_COMPLETED, plan.plan_id, with_source({}, plan.source))
                )
                self.close("plan_completed", at)
                return
        settlement = self.pending_settlement
        if settlement is not None and (
            self.paid_minor - settlement.paid_before_minor >= settlement.amount_minor
        ):
            settlement.state = "paid"
            settlement.forgiven_minor = self.outstanding_minor
            self.journal.append(
                AuditFact(
                    AuditKind.SETTLEMENT_PAID,
                    settlement.settlement_id,
                    with_source({"forgiven_minor": settlement.forgiven_minor}, settlement.source),
                )
            )
            self.close("settled", at)

    def lapse(self, lapse: Lapse) -> None:
        """What the case waited for ran out: a call task expires, a visit is settled, a
        promise is broken (with its shortfall), a plan is broken by its missed installment, a
        settlement lapses; collection resumes."""
        if lapse.kind == "call" and lapse.ref_id is not None:
            self.expire_call(lapse.ref_id)
        elif lapse.kind == "visit" and lapse.ref_id is not None:
            self.settle_visit(lapse.ref_id)
        elif lapse.kind == "promise" and self.pending_promise is not None:
            self._break_promise()
        elif lapse.kind == "plan" and self.active_plan is not None:
            self._break_plan()
        elif lapse.kind == "settlement" and self.pending_settlement is not None:
            settlement = self.pending_settlement
            settlement.state = "lapsed"
            self.journal.append(
                AuditFact(
                    AuditKind.SETTLEMENT_LAPSED,
                    settlement.settlement_id,
                    with_source({}, settlement.source),
                )
            )
        self.revision += 1

    def _break_promise(self) -> None:
        promise = self.pending_promise
        assert promise is not None
        promise.state = "broken"
        promise.shortfall_minor = promise.amount_minor - promise.paid_toward_minor
        self.broken_promises += 1
        self.journal.append(
            AuditFact(
                AuditKind.PROMISE_BROKEN,
                promise.promise_id,
                with_source({"shortfall_minor": promise.shortfall_minor}, promise.source),
            )
        )

    def _break_plan(self) -> None:
        plan = self.active_plan
        assert plan is not None
        missed = plan.next_due()
        assert missed is not None
        missed.state = "missed"
        plan.state = "broken"
        self.resume_stage = plan.began_in_stage
        self.journal.append(
            AuditFact(
                AuditKind.PLAN_BROKEN,
                plan.plan_id,
                with_source({"missed": missed.due_date.isoformat()}, plan.source),
            )
        )


def _amount_by_date(request: PromiseRequest | SettlementRequest) -> dict[str, str | int | None]:
    """What the record of a promise or a settlement says of it, and who sent it."""
    return with_source(
        {"amount_minor": request.amount_minor, "due_date": request.due_date.isoformat()},
        request.source,
    )


def _named(commitment: Promise | Settlement) -> str:
    """`promise 'p-1'`: the kind and id of an open commitment, for a refusal."""
    if isinstance(commitment, Promise):
        return f"promise {commitment.promise_id!r}"
    return f"settlement {commitment.settlement_id!r}"
