"""The case's message handlers: payments (update and signal), commitments, holds, outcomes,
legal events, call backs, and the `status` query. Each is synchronous: a handler's check and
its change happen with no `await` in between; the domain does both."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from workflows.case_base import answering, decoded
from workflows.case_bookkeeping import CaseBookkeeping

with workflow.unsafe.imports_passed_through():
    from domain.callbacks import parse_callback
    from domain.case_updates import (
        take_call_outcome,
        take_hold,
        take_payment,
        take_plan,
        take_promise,
        take_settlement,
        take_visit_outcome,
    )
    from domain.commitments import CommitmentRules, parse_plan, parse_promise, parse_settlement
    from domain.debt import parse_adjustment
    from domain.decisions import CaseSetup
    from domain.errors import InvalidInput
    from domain.messages import (
        parse_contact_outcome,
        parse_hold,
        parse_hold_release,
        parse_legal_event,
        parse_visit_outcome,
    )
    from domain.payments import parse_payment
    from domain.timing import case_today

PAYMENT_SIGNAL = "payment_received"
PLAN_SIGNAL = "plan_received"
ADJUSTMENT_SIGNAL = "balance_adjusted"
CALLBACK_REJECTED = "InvalidCallback"


class CaseMessages(CaseBookkeeping):
    # -- payments ----------------------------------------------------------------
    @workflow.update
    def record_payment(self, payment: Any) -> dict[str, Any]:
        state = self._taking("InvalidPayment")
        answer = answering(
            "InvalidPayment",
            lambda: take_payment(state, payment, workflow.now()),
        )
        self._publish(state)
        return answer

    @record_payment.validator
    def _validate_payment(self, payment: Any) -> None:
        state = self._require_state("InvalidPayment")
        answering(
            "InvalidPayment",
            lambda: state.check_payment(
                parse_payment(payment, case_currency=state.case.currency, now=workflow.now())
            ),
        )

    @workflow.signal(dynamic=True)
    def _on_signal(self, name: str, args: Sequence[RawValue]) -> None:
        """Signals take any number of arguments of any type: a payment signal that cannot be
        read is kept in `rejected_payments` with the reason, never fails a workflow task."""
        self._signals_this_run += 1
        if self._state is None:
            return
        if name == PLAN_SIGNAL:
            self._on_plan_signal(args)
        elif name == PAYMENT_SIGNAL:
            self._on_payment_signal(args)
        elif name == ADJUSTMENT_SIGNAL:
            self._on_adjustment_signal(args)
        else:
            workflow.logger.warning("unknown signal %r ignored", name[:64])

    def _on_plan_signal(self, args: Sequence[RawValue]) -> None:
        state = self._accrued(self._require_state("CaseNotOpened"))
        raw_plan = decoded(args[0]) if len(args) == 1 else None
        try:
            if len(args) != 1:
                raise InvalidInput("plan", f"takes one argument, got {len(args)}")
            rules, today = self._commitment_terms()
            state.take_plan(parse_plan(raw_plan), rules, today)
        except InvalidInput as error:
            state.reject_plan(raw_plan, str(error))
        except Exception as error:  # whatever it holds, a plan signal is kept
            state.reject_plan(raw_plan, f"plan: cannot be read ({type(error).__name__})")
        self._publish(state)

    def _on_payment_signal(self, args: Sequence[RawValue]) -> None:
        state = self._accrued(self._require_state("CaseNotOpened"))
        raw: Any = None
        try:
            if len(args) != 1:
                raise InvalidInput("payment", f"takes one argument, got {len(args)}")
            raw = workflow.payload_converter().from_payload(args[0].payload)
            payment = parse_payment(raw, case_currency=state.case.currency, now=workflow.now())
            state.take_payment(payment, workflow.now())
        except InvalidInput as error:
            state.reject_payment(raw, str(error), record_id=f"rejected-{workflow.uuid4()}")
        except Exception as error:  # an undecodable payload is a rejection too
            state.reject_payment(
                raw,
                f"payment: cannot be read ({type(error).__name__})",
                record_id=f"rejected-{workflow.uuid4()}",
            )
        self._publish(state)

    # -- adjustments from the loan system --------------------------------------------
    @workflow.update
    def adjust_balance(self, adjustment: Any) -> dict[str, Any]:
        state = self._taking("InvalidAdjustment")
        answer = answering(
            "InvalidAdjustment",
            lambda: state.take_adjustment(parse_adjustment(adjustment), workflow.now()),
        )
        self._publish(state)
        return answer

    @adjust_balance.validator
    def _validate_adjustment(self, adjustment: Any) -> None:
        state = self._require_state("InvalidAdjustment")
        answering("InvalidAdjustment", lambda: state.check_adjustment(parse_adjustment(adjustment)))

    def _on_adjustment_signal(self, args: Sequence[RawValue]) -> None:
        """Like `adjust_balance`; one the case cannot take is kept with the reason."""
        state = self._accrued(self._require_state("CaseNotOpened"))
        raw = decoded(args[0]) if len(args) == 1 else None
        try:
            if len(args) != 1:
                raise InvalidInput("adjustment", f"takes one argument, got {len(args)}")
            state.take_adjustment(parse_adjustment(raw), workflow.now())
        except InvalidInput as error:
            state.reject_adjustment(raw, str(error))
        except Exception as error:  # whatever it holds, an adjustment signal is kept
            state.reject_adjustment(raw, f"adjustment: cannot be read ({type(error).__name__})")
        self._publish(state)

    # -- commitments: promises, plans, settlements ---------------------------------
    def _commitment_terms(self) -> tuple[CommitmentRules, date]:
        """The policy's commitment rules and today in the case's calendar; a commitment can
        only be judged once the case is prepared (it knows its policy from then on)."""
        state = self._require_state("CaseNotOpened")
        if self._setup is None:
            raise InvalidInput("case", "the case is still being prepared: send it again")
        return self._setup.policy.commitments, case_today(state, self._setup, workflow.now())

    @workflow.update
    def promise_to_pay(self, promise: Any) -> dict[str, Any]:
        state = self._taking("InvalidPromise")
        answer = answering(
            "InvalidPromise",
            lambda: take_promise(state, promise, *self._commitment_terms()),
        )
        self._publish(state)
        return answer

    @promise_to_pay.validator
    def _validate_promise(self, promise: Any) -> None:
        state = self._require_state("InvalidPromise")
        answering(
            "InvalidPromise",
            lambda: state.check_promise(parse_promise(promise), *self._commitment_terms()),
        )

    @workflow.update
    def propose_plan(self, plan: Any) -> dict[str, Any]:
        state = self._taking("InvalidPlan")
        answer = answering("InvalidPlan", lambda: take_plan(state, plan, *self._commitment_terms()))
        self._publish(state)
        return answer

    @propose_plan.validator
    def _validate_plan(self, plan: Any) -> None:
        state = self._require_state("InvalidPlan")
        answering(
            "InvalidPlan", lambda: state.check_plan(parse_plan(plan), *self._commitment_terms())
        )

    @workflow.update
    def agree_settlement(self, settlement: Any) -> dict[str, Any]:
        state = self._taking("InvalidSettlement")
        answer = answering(
            "InvalidSettlement",
            lambda: take_settlement(state, settlement, *self._commitment_terms()),
        )
        self._publish(state)
        return answer

    @agree_settlement.validator
    def _validate_settlement(self, settlement: Any) -> None:
        state = self._require_state("InvalidSettlement")
        answering(
            "InvalidSettlement",
            lambda: state.check_settlement(parse_settlement(settlement), *self._commitment_terms()),
        )

    # -- holds, outcomes, legal events -------------------------------------------
    @workflow.update
    def place_hold(self, hold: Any) -> dict[str, Any]:
        state = self._taking("InvalidHold")
        answer = answering("InvalidHold", lambda: take_hold(state, hold, workflow.now()))
        self._publish(state)
        return answer

    @place_hold.validator
    def _validate_hold(self, hold: Any) -> None:
        state = self._require_state("InvalidHold")
        answering("InvalidHold", lambda: state.check_hold(parse_hold(hold)))

    @workflow.update
    def release_hold(self, release: Any) -> dict[str, Any]:
        state = self._taking("InvalidHold")
        answer = answering("InvalidHold", lambda: state.release_hold(parse_hold_release(release)))
        self._publish(state)
        return answer

    @release_hold.validator
    def _validate_release(self, release: Any) -> None:
        state = self._require_state("InvalidHold")
        answering("InvalidHold", lambda: state.check_release(parse_hold_release(release)))

    @workflow.update
    def record_contact_outcome(self, outcome: Any) -> dict[str, Any]:
        state = self._taking("InvalidOutcome")
        answer = answering(
            "InvalidOutcome",
            lambda: take_call_outcome(
                state,
                outcome,
                workflow.now(),
                # Added after cases were running: a wrong number recorded before it changed
                # nothing else.
                outcome_acts=self._changed("wrong-number-retires-phone"),
            ),
        )
        self._publish(state)
        return answer

    @record_contact_outcome.validator
    def _validate_contact_outcome(self, outcome: Any) -> None:
        state = self._require_state("InvalidOutcome")
        answering(
            "InvalidOutcome", lambda: state.check_outcome(parse_contact_outcome(outcome), "call")
        )

    @workflow.update
    def record_visit_outcome(self, outcome: Any) -> dict[str, Any]:
        state = self._taking("InvalidOutcome")
        return answering(
            "InvalidOutcome",
            lambda: take_visit_outcome(
                state,
                outcome,
                workflow.now(),
                # Added after cases were running: visit outcomes recorded before it asked
                # for nothing more.
                outcome_acts=self._changed("visit-outcomes-act"),
            ),
        )

    @record_visit_outcome.validator
    def _validate_visit_outcome(self, outcome: Any) -> None:
        state = self._require_state("InvalidOutcome")
        answering(
            "InvalidOutcome",
            lambda: state.check_outcome(parse_visit_outcome(outcome), "field_visit"),
        )

    @workflow.update
    def record_legal_event(self, event: Any) -> dict[str, Any]:
        state = self._taking("InvalidLegalEvent")
        return answering(
            "InvalidLegalEvent",
            lambda: state.record_legal_event(parse_legal_event(event), workflow.now()),
        )

    @record_legal_event.validator
    def _validate_legal_event(self, event: Any) -> None:
        state = self._require_state("InvalidLegalEvent")
        answering("InvalidLegalEvent", lambda: state.check_legal_event(parse_legal_event(event)))

    # -- call backs ----------------------------------------------------------------
    def _callback_terms(self) -> tuple[CaseSetup, datetime]:
        """The case's setup (its policy, the borrower's zone) and now: a call back can only be
        judged once the case is prepared."""
        if self._setup is None:
            raise InvalidInput("case", "the case is still being prepared: send it again")
        return self._setup, workflow.now()

    @workflow.update
    def request_callback(self, request: Any) -> dict[str, Any]:
        state = self._taking(CALLBACK_REJECTED)
        # Added after cases were running: a call back's call task is new work for the loop. A
        # history without the marker never took one, so this refusal is never replayed.
        if not self._changed("callback-request"):
            raise ApplicationError(
                "this case takes no call backs", type=CALLBACK_REJECTED, non_retryable=True
            )
        answer = answering(
            CALLBACK_REJECTED,
            lambda: state.take_callback(parse_callback(request), *self._callback_terms()),
        )
        self._publish(state)
        return answer

    @request_callback.validator
    def _validate_callback(self, request: Any) -> None:
        state = self._require_state(CALLBACK_REJECTED)
        answering(
            CALLBACK_REJECTED,
            lambda: state.check_callback(parse_callback(request), *self._callback_terms()),
        )

    # -- query -------------------------------------------------------------------
    @workflow.query
    def status(self) -> dict[str, Any]:
        state = self._require_state("CaseNotOpened")
        # A sleeping case's workflow time is that of its last activation; a query changes no
        # history, so it may read the wall clock to state today's days past due.
        with workflow.unsafe.sandbox_unrestricted():
            today = datetime.now(UTC)
        return state.status_view(max(self._days_past_due(), self._days_past_due(today)))
