"""`CollectionCase`: one overdue loan, walked up the policy's escalation ladder.

The workflow only orchestrates: the rules live in `domain/`, all I/O in activities
called by name (their implementations import sqlmodel and httpx, which the
workflow sandbox must not load).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import contracts
    from domain.case import CaseInput, parse_case_input
    from domain.case_state import CaseState, Contact
    from domain.clock import CaseClock, bucket, calendar_days_past_due, case_clock
    from domain.contact_rules import next_contact_time
    from domain.errors import InvalidInput
    from domain.messages import (
        HoldRequest,
        parse_contact_outcome,
        parse_hold,
        parse_hold_release,
        parse_legal_event,
        parse_visit_outcome,
    )
    from domain.money import format_money
    from domain.payments import Payment, parse_payment
    from domain.plan import choose_step
    from domain.policy import LadderStep, Policy
    from workflows import search_attributes as attrs

# Business errors are final; everything else (database down, provider 5xx) is retried.
RETRY = RetryPolicy(
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=[contracts.INVALID_CASE, "NotificationRejected"],
)
DB_TIMEOUT = timedelta(seconds=30)
CONTACT_TIMEOUT = timedelta(minutes=2)
ACTIVITY_FOR_CHANNEL = {
    "sms": contracts.SEND_NOTICE,
    "email": contracts.SEND_NOTICE,
    "letter": contracts.SEND_NOTICE,
    "call": contracts.QUEUE_CALL,
    "field_visit": contracts.BOOK_FIELD_VISIT,
}
CHANNEL_LABEL = {
    "sms": "SMS reminder",
    "email": "Email reminder",
    "letter": "Letter",
    "call": "Call task",
    "field_visit": "Field visit",
    "legal": "Legal hand-off",
}


def _rejecting(error_type: str, check: Callable[[], object]) -> None:
    """Run a domain check in an update validator; bad input rejects the update, naming the field."""
    try:
        check()
    except InvalidInput as error:
        raise ApplicationError(str(error), type=error_type, non_retryable=True) from None


@workflow.defn(name="CollectionCase")
class CollectionCase:
    @workflow.init
    def __init__(self, case: dict[str, Any]) -> None:
        # Messages may arrive before `run` starts, so the state is built here from the input.
        self._invalid: InvalidInput | None = None
        self._state: CaseState | None = None
        try:
            self._state = CaseState(parse_case_input(case, now=workflow.now()))
        except InvalidInput as error:
            self._invalid = error
        self._case_id = workflow.info().first_execution_run_id
        self._policy: Policy | None = None
        self._timezone = "UTC"
        self._clock: CaseClock | None = None
        # Bumped by every message that may change what the ladder does next.
        self._changes = 0
        self._published: tuple[object, ...] = ()

    # -- the process -------------------------------------------------------------
    @workflow.run
    async def run(self, case: dict[str, Any]) -> dict[str, Any]:
        if self._state is None:
            raise ApplicationError(
                str(self._invalid), type=contracts.INVALID_CASE, non_retryable=True
            )
        state = self._state
        prepared = await self._prepare(state.case)
        self._policy = prepared.policy
        self._timezone = prepared.timezone
        self._clock = case_clock(
            state.case.due, prepared.timezone, workflow.now(), prepared.policy.day_seconds
        )
        if not state.closed:
            state.stage = "grace"
        await self._climb_ladder(state, prepared.policy, self._clock)
        await self._publish(state)
        await self._store_event("closed", self._case_id, {"status": state.status})
        # Let in-flight updates (a payment being stored) answer before the case completes.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return state.status_view(self._days_past_due())

    async def _prepare(self, case: CaseInput) -> contracts.PreparedCase:
        try:
            prepared: contracts.PreparedCase = await workflow.execute_activity(
                contracts.PREPARE_CASE,
                contracts.PrepareRequest(
                    case_id=self._case_id,
                    workflow_id=workflow.info().workflow_id,
                    case=case,
                    opened_at=workflow.now().isoformat(),
                ),
                result_type=contracts.PreparedCase,
                start_to_close_timeout=DB_TIMEOUT,
                retry_policy=RETRY,
                summary=f"Prepare case · policy {case.policy}",
            )
            return prepared
        except ActivityError as error:
            cause = error.cause
            if isinstance(cause, ApplicationError) and cause.type == contracts.INVALID_CASE:
                raise ApplicationError(
                    cause.message, type=contracts.INVALID_CASE, non_retryable=True
                ) from error
            raise

    async def _climb_ladder(self, state: CaseState, policy: Policy, clock: CaseClock) -> None:
        next_index = 0
        write_off_at = clock.start_of(policy.write_off_dpd)
        while not state.closed:
            now = workflow.now()
            days_past_due = clock.days_past_due(now)
            if days_past_due >= policy.write_off_dpd:
                state.close("written_off")
                break
            wake_at, next_kind = write_off_at, "write_off"
            choice = choose_step(policy.ladder, next_index, days_past_due)
            if state.on_hold:
                next_kind = "write_off (contacts on hold)"
            elif choice.run is not None:
                step = policy.ladder[choice.run]
                contact_at = self._contact_time(step, now)
                if contact_at <= now:
                    for skipped in choice.skipped:
                        await self._store_event(
                            "step_skipped", f"{choice.run}:{skipped}", {"dpd": days_past_due}
                        )
                    await self._run_step(state, choice.run, step, days_past_due)
                    next_index = choice.run + 1
                    continue
                wake_at, next_kind = min(contact_at, write_off_at), step.channel
            elif next_index < len(policy.ladder):
                upcoming = policy.ladder[next_index]
                wake_at, next_kind = clock.start_of(upcoming.dpd), upcoming.channel
            state.next_action = {"kind": next_kind, "due_at": wake_at.isoformat()}
            await self._publish(state)
            # Wake at least at every new day past due, so DPD, bucket and the search
            # attributes stay current while nothing else happens (a hold, a long gap).
            tick_at = min(wake_at, clock.start_of(days_past_due + 1))
            with suppress(TimeoutError):
                await workflow.wait_condition(
                    self._woken(state, self._changes),
                    timeout=max(tick_at - now, timedelta(milliseconds=1)),
                    timeout_summary=f"DPD {days_past_due + 1} · next: {next_kind}",
                )

    def _woken(self, state: CaseState, changes_seen: int) -> Callable[[], bool]:
        """Wake the ladder when the case closes or a message changed what comes next."""
        return lambda: state.closed or self._changes != changes_seen

    def _contact_time(self, step: LadderStep, now: datetime) -> datetime:
        """When the step may run: legal hand-off at once; contacts inside the window and caps."""
        assert self._policy is not None and self._state is not None
        if step.channel == "legal":
            return now
        return next_contact_time(
            now,
            timezone=self._timezone,
            window=self._policy.contact_window,
            daily_cap=self._policy.daily_caps.get(step.channel),
            earlier_contacts=[
                datetime.fromisoformat(c.at)
                for c in self._state.contacts
                if c.channel == step.channel
            ],
        )

    async def _run_step(
        self, state: CaseState, index: int, step: LadderStep, days_past_due: int
    ) -> None:
        state.stage = step.stage
        await self._publish(state)
        # Run ids are time-ordered (UUIDv7): their tail, not their head, tells cases apart.
        attempt_id = f"{state.case.loan_id}.{self._case_id[-8:]}.{index:02d}"
        number = 1 + sum(1 for c in state.contacts if c.channel == step.channel)
        summary = f"{CHANNEL_LABEL[step.channel]} {number} · DPD {days_past_due}"
        now = workflow.now()
        if step.channel == "legal":
            await workflow.execute_activity(
                contracts.HAND_OFF_TO_LEGAL,
                contracts.LegalHandOffRequest(
                    case_id=self._case_id,
                    referral_id=attempt_id,
                    case=state.case,
                    days_past_due=days_past_due,
                    outstanding_minor=state.outstanding_minor,
                    paid_minor=state.paid_minor,
                    at=now.isoformat(),
                ),
                result_type=contracts.LegalHandOffResult,
                start_to_close_timeout=CONTACT_TIMEOUT,
                retry_policy=RETRY,
                summary=summary,
            )
            result = "referred"
        else:
            try:
                outcome = await workflow.execute_activity(
                    ACTIVITY_FOR_CHANNEL[step.channel],
                    contracts.ContactRequest(
                        case_id=self._case_id,
                        attempt_id=attempt_id,
                        loan_id=state.case.loan_id,
                        channel=step.channel,
                        template=step.template,
                        days_past_due=days_past_due,
                        borrower=state.case.borrower,
                        currency=state.case.currency,
                        outstanding_minor=state.outstanding_minor,
                        scheduled_at=now.isoformat(),
                    ),
                    result_type=contracts.ContactResult,
                    start_to_close_timeout=CONTACT_TIMEOUT,
                    retry_policy=RETRY,
                    summary=summary,
                )
                result = outcome.result
            except ActivityError:
                # A provider's final refusal is part of the record; the ladder goes on.
                result = "failed"
        state.contacts.append(
            Contact(
                attempt_id=attempt_id,
                channel=step.channel,
                template=step.template,
                at=now.isoformat(),
                result=result,
                days_past_due=days_past_due,
            )
        )

    # -- payments ----------------------------------------------------------------
    @workflow.update
    async def record_payment(self, payment: dict[str, Any]) -> dict[str, Any]:
        state = self._require_state()
        return await self._take_payment(
            state, parse_payment(payment, case_currency=state.case.currency)
        )

    @record_payment.validator
    def _validate_payment(self, payment: dict[str, Any]) -> None:
        state = self._validating_state("InvalidPayment")
        if self._earlier_payment_answer(state, payment) is None:
            _rejecting(
                "InvalidPayment", lambda: parse_payment(payment, case_currency=state.case.currency)
            )

    @workflow.signal
    async def payment_received(self, payment: Any) -> None:
        # Typed Any so that no payload is dropped while decoding: an invalid payment
        # signal is kept in `rejected_payments` with its reason.
        state = self._state
        if state is None:
            return
        if self._earlier_payment_answer(state, payment) is not None:
            return
        try:
            parsed = parse_payment(payment, case_currency=state.case.currency)
        except InvalidInput as error:
            entry = state.reject_payment(payment, str(error))
            await self._store_payment(
                contracts.PaymentRecord(
                    case_id=self._case_id,
                    record_id=f"rejected-{workflow.uuid4()}",
                    loan_id=state.case.loan_id,
                    payment_id=entry["payment_id"],
                    amount_minor=None,
                    currency=None,
                    status="rejected",
                    received_at=workflow.now().isoformat(),
                    reason=entry["reason"],
                )
            )
            return
        await self._take_payment(state, parsed)

    @staticmethod
    def _earlier_payment_answer(state: CaseState, payment: Any) -> dict[str, Any] | None:
        payment_id = payment.get("payment_id") if isinstance(payment, dict) else None
        return state.answered("payment", payment_id) if isinstance(payment_id, str) else None

    async def _take_payment(self, state: CaseState, payment: Payment) -> dict[str, Any]:
        duplicate = state.answered("payment", payment.payment_id) is not None
        answer = state.record_payment(payment, at=workflow.now().isoformat())
        if duplicate:
            return answer
        self._changes += 1
        entry = state.payments[-1]
        await self._store_payment(
            contracts.PaymentRecord(
                case_id=self._case_id,
                record_id=payment.payment_id,
                loan_id=state.case.loan_id,
                payment_id=payment.payment_id,
                amount_minor=payment.amount_minor,
                currency=payment.currency,
                status="applied",
                received_at=workflow.now().isoformat(),
                paid_at=entry.at,
                source=payment.source,
                applied_minor=entry.applied_minor,
                overpaid_minor=entry.overpaid_minor,
                outstanding_after_minor=answer["outstanding_minor"],
            )
        )
        return answer

    async def _store_payment(self, record: contracts.PaymentRecord) -> None:
        amount = (
            format_money(record.amount_minor, record.currency)
            if record.amount_minor is not None and record.currency
            else "invalid"
        )
        await workflow.execute_activity(
            contracts.STORE_PAYMENT,
            record,
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=RETRY,
            summary=f"Payment {record.status} · {amount}",
        )

    # -- holds, outcomes, legal events -------------------------------------------
    @workflow.update
    async def place_hold(self, hold: dict[str, Any]) -> dict[str, Any]:
        return await self._hold(self._require_state(), parse_hold(hold))

    @place_hold.validator
    def _validate_hold(self, hold: dict[str, Any]) -> None:
        state = self._validating_state("InvalidHold")
        _rejecting("InvalidHold", lambda: parse_hold(hold))
        if state.closed and state.answered("hold", hold["hold_id"]) is None:
            raise ApplicationError("the case is closed", type="InvalidHold", non_retryable=True)

    async def _hold(self, state: CaseState, hold: HoldRequest) -> dict[str, Any]:
        first_time = state.answered("hold", hold.hold_id) is None
        answer = state.place_hold(hold, at=workflow.now().isoformat())
        if first_time:
            self._changes += 1
            await self._store_event(
                "hold_placed", hold.hold_id, {"kind": hold.kind, "reason": hold.reason}
            )
        return answer

    @workflow.update
    async def release_hold(self, release: dict[str, Any]) -> dict[str, Any]:
        state = self._require_state()
        hold_id = parse_hold_release(release)
        first_time = state.answered("release", hold_id) is None
        answer = state.release_hold(hold_id)
        if first_time:
            self._changes += 1
            await self._store_event("hold_released", hold_id, {})
        return answer

    @release_hold.validator
    def _validate_release(self, release: dict[str, Any]) -> None:
        state = self._validating_state("InvalidHold")
        _rejecting("InvalidHold", lambda: state.check_release(parse_hold_release(release)))

    @workflow.update
    async def record_contact_outcome(self, outcome: dict[str, Any]) -> dict[str, Any]:
        state = self._require_state()
        parsed = parse_contact_outcome(outcome)
        first_time = state.answered("call", parsed.ref_id) is None
        answer = state.record_outcome(parsed, "call")
        if first_time:
            await self._store_event(
                "contact_outcome", parsed.ref_id, {"outcome": parsed.outcome, "note": parsed.note}
            )
            if parsed.outcome == "disputed" and not state.closed:
                # A disputed debt stops collection until an operator resolves it.
                await self._hold(
                    state,
                    HoldRequest(
                        hold_id=f"dispute-{parsed.ref_id}",
                        kind="dispute",
                        reason=f"borrower disputed the debt on call {parsed.ref_id}",
                    ),
                )
                answer = {**answer, "status": state.status}
        return answer

    @record_contact_outcome.validator
    def _validate_contact_outcome(self, outcome: dict[str, Any]) -> None:
        state = self._validating_state("InvalidOutcome")
        _rejecting(
            "InvalidOutcome", lambda: state.check_outcome(parse_contact_outcome(outcome), "call")
        )

    @workflow.update
    async def record_visit_outcome(self, outcome: dict[str, Any]) -> dict[str, Any]:
        state = self._require_state()
        parsed = parse_visit_outcome(outcome)
        first_time = state.answered("field_visit", parsed.ref_id) is None
        answer = state.record_outcome(parsed, "field_visit")
        if first_time:
            await self._store_event(
                "visit_outcome", parsed.ref_id, {"outcome": parsed.outcome, "note": parsed.note}
            )
        return answer

    @record_visit_outcome.validator
    def _validate_visit_outcome(self, outcome: dict[str, Any]) -> None:
        state = self._validating_state("InvalidOutcome")
        _rejecting(
            "InvalidOutcome",
            lambda: state.check_outcome(parse_visit_outcome(outcome), "field_visit"),
        )

    @workflow.update
    async def record_legal_event(self, event: dict[str, Any]) -> dict[str, Any]:
        state = self._require_state()
        parsed = parse_legal_event(event)
        first_time = state.answered("legal", parsed.event_id) is None
        answer = state.record_legal_event(parsed, at=workflow.now().isoformat())
        if first_time:
            await self._store_event(
                "legal_event", parsed.event_id, {"event": parsed.event, "note": parsed.note}
            )
        return answer

    @record_legal_event.validator
    def _validate_legal_event(self, event: dict[str, Any]) -> None:
        state = self._validating_state("InvalidLegalEvent")
        _rejecting("InvalidLegalEvent", lambda: state.check_legal_event(parse_legal_event(event)))

    # -- query -------------------------------------------------------------------
    @workflow.query
    def status(self) -> dict[str, Any]:
        state = self._require_state()
        return state.status_view(self._days_past_due())

    # -- helpers -----------------------------------------------------------------
    def _require_state(self) -> CaseState:
        if self._state is None:
            raise ApplicationError(f"the case was never opened: {self._invalid}")
        return self._state

    def _validating_state(self, error_type: str) -> CaseState:
        if self._state is None:
            raise ApplicationError(
                f"the case was never opened: {self._invalid}", type=error_type, non_retryable=True
            )
        return self._state

    def _days_past_due(self) -> int:
        state = self._require_state()
        if self._clock is not None:
            return self._clock.days_past_due(workflow.now())
        return calendar_days_past_due(state.case.due, workflow.now(), self._timezone)

    async def _store_event(self, kind: str, ref_id: str, detail: dict[str, Any]) -> None:
        state = self._require_state()
        await workflow.execute_activity(
            contracts.STORE_CASE_EVENT,
            contracts.CaseEvent(
                case_id=self._case_id,
                event_key=f"{self._case_id}:{kind}:{ref_id}",
                loan_id=state.case.loan_id,
                kind=kind,
                at=workflow.now().isoformat(),
                ref_id=ref_id,
                detail=detail,
            ),
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=RETRY,
            summary=f"Audit · {kind.replace('_', ' ')}",
        )

    async def _publish(self, state: CaseState) -> None:
        """Show the case's position in the UI and the case table, when it changed."""
        days_past_due = self._days_past_due()
        position = (state.stage, state.status, days_past_due, state.outstanding_minor)
        if position == self._published:
            return
        stage_changed = position[:2] != self._published[:2]
        self._published = position
        workflow.upsert_search_attributes(
            [
                attrs.STAGE.value_set(state.stage),
                attrs.STATUS.value_set(state.status),
                attrs.BUCKET.value_set(bucket(days_past_due)),
                attrs.DAYS_PAST_DUE.value_set(days_past_due),
                attrs.OUTSTANDING_MINOR.value_set(state.outstanding_minor),
            ]
        )
        workflow.set_current_details(self._details(state, days_past_due))
        if stage_changed:
            await workflow.execute_activity(
                contracts.STORE_CASE_SNAPSHOT,
                contracts.CaseSnapshot(
                    case_id=self._case_id,
                    loan_id=state.case.loan_id,
                    stage=state.stage,
                    status=state.status,
                    days_past_due=days_past_due,
                    outstanding_minor=state.outstanding_minor,
                    paid_minor=state.paid_minor,
                    at=workflow.now().isoformat(),
                ),
                start_to_close_timeout=DB_TIMEOUT,
                retry_policy=RETRY,
                summary=f"Case table · {state.stage} · {state.status}",
            )

    @staticmethod
    def _details(state: CaseState, days_past_due: int) -> str:
        # Shown in the Temporal UI: ids and amounts only, never the borrower's personal data.
        currency = state.case.currency
        lines = [
            f"**Loan {state.case.loan_id}** · stage **{state.stage}** · status **{state.status}**",
            "",
            f"DPD **{days_past_due}** ({bucket(days_past_due)}) · "
            f"outstanding **{format_money(state.outstanding_minor, currency)}** · "
            f"paid {format_money(state.paid_minor, currency)}",
        ]
        if state.holds:
            kinds = ", ".join(sorted({hold.kind for hold in state.holds.values()}))
            lines.append(f"On hold: {kinds}")
        if state.next_action:
            lines.append(f"Next: {state.next_action['kind']} at {state.next_action['due_at']}")
        if state.contacts:
            lines += ["", "Last contacts:"]
            lines += [
                f"- DPD {c.days_past_due} · {c.channel} · {c.template} · {c.result}"
                for c in state.contacts[-3:]
            ]
        return "\n".join(lines)
