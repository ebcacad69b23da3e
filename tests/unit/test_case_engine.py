"""The case engine's parts: the step's plan and what its outcome means, the stage at a DPD,
audit kinds, the mapping of journalled facts to records, the typed status view, the details."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import contracts
from domain.audit import AuditFact, AuditKind
from domain.case_details import case_details, human_time
from domain.case_records import Contact, PaymentFact
from domain.case_state import CaseState
from domain.decide import decide
from domain.decisions import CaseSetup, Lapse, RunStep
from domain.messages import HoldRequest
from domain.payments import Payment
from domain.step_choice import stage_at
from domain.step_plan import Made, Unsent, contact_failed, contact_made, plan_step
from domain.timing import call_sla, visit_slot
from policies import load_policy
from tests.helpers.domain_cases import shanghai_case

DUE = date(2026, 3, 1)
OPENED = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai, DPD 0
CASE_ID = "0190aaaa-bbbb-7ccc-8ddd-0123456789ab"


def new_case() -> tuple[CaseState, CaseSetup]:
    return shanghai_case(load_policy("default"), due=DUE, opened=OPENED)


def run_of(plan: CaseSetup, index: int, **changes: object) -> RunStep:
    step = plan.policy.ladder[index]
    run = RunStep(index, step, (), step.dpd, 500000, None)
    return replace(run, **changes)  # type: ignore[arg-type]


# -- the step's plan -------------------------------------------------------------------
def test_a_steps_attempt_id_is_loan_run_tail_and_index() -> None:
    state, plan = new_case()
    step = plan_step(state, plan, run_of(plan, 0), case_id=CASE_ID, now=OPENED)
    assert step.attempt_id == "L-1.456789ab.00"
    assert step.summary == "SMS reminder 1 · DPD 3"
    assert step.first_contact and step.due_at is None and step.call_sla is None
    assert step.send_within is None and not step.legal


def test_a_requeued_call_task_numbers_its_attempt_and_has_an_sla() -> None:
    state, plan = new_case()
    call = plan_step(state, plan, run_of(plan, 4), case_id=CASE_ID, now=OPENED)
    assert call.due_at == OPENED + call_sla(plan) and call.call_sla == call_sla(plan)
    state.finish_step(
        4,
        Contact(call.attempt_id, "call", "t", OPENED.isoformat(), "queued", 14),
        call_sla=call_sla(plan),
    )
    again = plan_step(
        state, plan, run_of(plan, 4, requeue_of=call.attempt_id), case_id=CASE_ID, now=OPENED
    )
    assert again.attempt_id == "L-1.456789ab.04.r1"
    assert again.summary == "Call task 2 · DPD 14" and not again.first_contact


def test_a_visit_is_booked_for_its_slot_and_retries_end_at_the_deadline() -> None:
    state, plan = new_case()
    deadline = OPENED + timedelta(hours=5)
    visit = plan_step(state, plan, run_of(plan, 8, deadline=deadline), case_id=CASE_ID, now=OPENED)
    assert visit.due_at == visit_slot(plan, OPENED)
    assert visit.send_within == timedelta(hours=5)
    legal = plan_step(state, plan, run_of(plan, 10), case_id=CASE_ID, now=OPENED)
    assert legal.legal and legal.summary == "Legal hand-off 1 · DPD 61"


def test_what_a_contacts_result_means() -> None:
    assert contact_made("sent", None, None) == Made("sent")
    assert contact_made("blocked", "opt_out", None) == Made("blocked", blocked_by="opt_out")
    assert contact_made("blocked", None, None) == Made("blocked", blocked_by="blocked")
    retry_at = "2026-03-02T01:00:00+00:00"
    assert contact_made("deferred", "retry_after", retry_at) == Unsent(
        "deferred by the provider's Retry-After", datetime.fromisoformat(retry_at), "retry_after"
    )
    assert contact_made("deferred", "sms_per_day", None) == Unsent(
        "deferred by a cap over the borrower's loans", None, "sms_per_day"
    )


def test_what_a_failed_contact_means() -> None:
    _, plan = new_case()
    run = run_of(plan, 0, deadline=OPENED)
    assert contact_failed(final=True, cancelled=False, run=run) == Made("failed")
    assert contact_failed(final=False, cancelled=True, run=run) == Unsent("cancelled", None)
    assert contact_failed(final=False, cancelled=False, run=run) == Unsent("window closed", OPENED)


# -- the stage follows the ladder --------------------------------------------------------
def test_the_stage_at_a_dpd_is_the_ladders_position() -> None:
    policy = load_policy("default")
    assert stage_at(policy, 0) == "grace"
    assert stage_at(policy, 2) == "grace"
    assert stage_at(policy, 11) == "reminder"
    assert stage_at(policy, 14) == "phone"
    assert stage_at(policy, 70) == "legal"


# -- typed lapses --------------------------------------------------------------------------
def test_a_call_task_past_its_sla_with_no_requeue_left_lapses_by_its_id() -> None:
    state, plan = new_case()
    state.finish_step(
        4, Contact("c-1", "call", "t", OPENED.isoformat(), "queued", 14), call_sla=call_sla(plan)
    )
    state.place_hold(HoldRequest("h-1", "dispute", "r"), OPENED)
    decision = decide(state, plan, OPENED + timedelta(days=2))
    assert decision == Lapse("call", "c-1")
    state.lapse(decision)
    assert state.call_tasks["c-1"].state == "expired"


# -- audit kinds and records -----------------------------------------------------------
def test_audit_kinds_read_as_their_strings() -> None:
    fact = AuditFact(AuditKind.CLOSED, "paid", {"status": "paid"})
    assert fact == AuditFact("closed", "paid", {"status": "paid"})  # type: ignore[arg-type]
    assert (
        repr(fact) == "AuditFact(kind='closed', ref_id='paid', detail={'status': 'paid'}, at=None)"
    )
    assert f"{AuditKind.CLOSED}" == str(AuditKind.CLOSED) == "closed"


def test_a_journalled_fact_maps_to_one_record() -> None:
    event = contracts.CaseEvent.of(
        AuditFact(AuditKind.HOLD_PLACED, "h-1", {"kind": "dispute"}),
        case_id="c",
        loan_id="L-1",
        now="2026-03-01T00:00:00+00:00",
    )
    assert event == contracts.CaseEvent(
        "c",
        "c:hold_placed:h-1",
        "L-1",
        "hold_placed",
        "2026-03-01T00:00:00+00:00",
        "h-1",
        {"kind": "dispute"},
    )
    assert type(event.kind) is str
    fact = PaymentFact("p-1", "applied", "p-1", 100, "CNY", applied_minor=100, at="then")
    record = contracts.PaymentRecord.of(fact, case_id="c", loan_id="L-1", now="now")
    assert record == contracts.PaymentRecord(
        record_id="p-1",
        status="applied",
        payment_id="p-1",
        amount_minor=100,
        currency="CNY",
        applied_minor=100,
        at="then",
        case_id="c",
        loan_id="L-1",
        received_at="then",
    )
    unstamped = replace(fact, at=None)
    assert contracts.PaymentRecord.of(unstamped, case_id="c", loan_id="L-1", now="now") == (
        replace(record, at=None, received_at="now")
    )


def test_the_carried_state_keeps_audit_kinds() -> None:
    state, _ = new_case()
    state.take_payment(Payment("p-1", 500000, "CNY"), OPENED)
    restored = CaseState.restored(state.carried())
    assert restored == state
    assert all(
        isinstance(fact.kind, AuditKind) for fact in restored.journal if isinstance(fact, AuditFact)
    )


# -- the status view and the details ---------------------------------------------------
def test_the_status_view_has_the_contracts_fields_in_order() -> None:
    state, _ = new_case()
    state.take_payment(Payment("p-1", 1000, "CNY"), OPENED)
    view = state.status_view(3)
    assert list(view) == [
        "loan_id", "stage", "status", "days_past_due", "bucket", "currency",
        "outstanding_minor", "paid_minor", "overpaid_minor", "recovered_minor", "policy",
        "portfolio", "holds", "promise", "broken_promises", "plan", "settlement", "legal",
        "next_action", "closed_at", "contacts", "payments", "rejected_payments",
        "rejected_plans", "balance", "rejected_adjustments", "rejected_counts", "assignee",
        "strategy",
    ]  # fmt: skip
    assert view["payments"] == [
        {"payment_id": "p-1", "amount_minor": 1000, "at": OPENED.isoformat(), "source": None,
         "recovery": False, "allocation": {"principal_minor": 1000, "interest_minor": 0,
                                           "fees_minor": 0, "penalty_minor": 0}}
    ]  # fmt: skip
    assert view["balance"] == {
        "principal_minor": 499000, "interest_minor": 0, "fees_minor": 0, "penalty_minor": 0,
        "as_of": None,
    }  # fmt: skip
    assert view["rejected_counts"] == {"payments": 0, "plans": 0, "adjustments": 0}
    assert view["bucket"] == "M1" and view["outstanding_minor"] == 499000


def test_details_show_times_as_people_write_them() -> None:
    assert human_time(OPENED, "Asia/Shanghai") == "2026-03-01 09:00 (Asia/Shanghai)"
    assert human_time(OPENED + timedelta(seconds=5), "UTC") == "2026-03-01 01:00:05 (UTC)"
    state, _ = new_case()
    state.next_action = {"kind": "sms: r1 · DPD 3", "due_at": OPENED.isoformat()}
    details = case_details(state, 0, "Asia/Shanghai")
    assert "Next: sms: r1 · DPD 3 at 2026-03-01 09:00 (Asia/Shanghai)" in details
