"""`/cases/{loan_id}`: the agent's case page and its actions.

The page shows the case's own answer to the `status` query, the borrower's name and phone
(personal data: here only, each view recorded in desk_views), the call script and the rules of
conduct, and the ranges the case accepts. Each action is sent to the case as its contract
update with `source` = the desk user and the form's `message_id` as the idempotency id, then
303 back to the page, where the case's answer is shown in plain words (`[data-answer]`).

Acting while another agent holds the borrower's claim is refused (409) and nothing is sent.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from uuid import uuid4

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from domain.plan_calculator import PlanQuote, quote_plan
from templates import DEFAULT_LOCALE
from templates.conduct import conduct_rules
from web import settlement_requests
from web.auth import DeskUser, require_role
from web.case_answers import CaseAnswer, keep_answer, take_answer
from web.case_page import (
    INTERVALS,
    CaseFacts,
    FormProblem,
    call_script,
    case_today,
    contact_time,
    form_count,
    form_date,
    form_interval,
    limits,
    minor_units,
    money,
    open_call_task,
    owed,
)
from web.case_reading import policy_named
from web.case_talk import (
    PageRefusal,
    case_facts,
    case_status,
    guard_claim,
    refusal_page,
    send_update,
)
from web.context import WebContext, context
from web.queue_reading import release_claim
from web.rendering import render

ROLES = ("agent", "supervisor")
Agent = Annotated[DeskUser, Depends(require_role(*ROLES))]
MessageId = Annotated[str, Form(min_length=1, max_length=128)]
Attempt = Annotated[str, Form(max_length=128)]
OUTCOMES = ("reached", "no_answer", "wrong_number", "refused", "promised", "disputed")
HOLD_KINDS = ("dispute", "complaint")
router = APIRouter()


def _back(loan_id: str, attempt_id: str = "") -> RedirectResponse:
    # The task's id is an opaque key, never personal data; the answer is in the session.
    suffix = f"?attempt={attempt_id}" if attempt_id else ""
    return RedirectResponse(f"/cases/{loan_id}{suffix}", status_code=303)


def _answered(request: Request, loan_id: str, sent: CaseAnswer, accepted_words: str) -> None:
    if sent.accepted:
        text = f"{accepted_words} The case is now {sent.answer.get('status', 'unchanged')}."
    else:
        text = f"The case refused it, nothing changed: {sent.reason}"
    keep_answer(request, sent.accepted, text, key=loan_id)


def _acting_on(web: WebContext, user: DeskUser, loan_id: str) -> CaseFacts:
    """The open case the agent may act on: a PageRefusal if there is none (404) or another
    agent holds the borrower's claim (409); nothing is sent then."""
    facts = case_facts(web, loan_id)
    guard_claim(web, user, facts)
    return facts


def _amount_and_date(facts: CaseFacts, amount: str, due_date: str) -> tuple[int, date]:
    """A promise's or settlement's amount (in the case's minor units) and due date, as typed."""
    return minor_units(amount, facts.case.currency), form_date(due_date, "due_date")


def _form_problem(request: Request, loan_id: str, problem: FormProblem) -> None:
    keep_answer(request, False, f"Nothing sent: {problem}", key=loan_id)


@router.get("/cases/{loan_id}", response_class=HTMLResponse)
async def case_page(
    request: Request, user: Agent, loan_id: str, attempt: str | None = None
) -> HTMLResponse:
    web = context(request)
    try:
        facts = case_facts(web, loan_id)
        status = await case_status(web, loan_id)
    except PageRefusal as refused:
        return refusal_page(request, user, refused)
    now = web.now()
    web.desk.record_view(user.user_name, loan_id, "case", at=now)
    today = case_today(facts.case, now)
    locale = facts.borrower.locale if facts.borrower else DEFAULT_LOCALE
    return render(
        request,
        "case.html",
        user=user,
        loan_id=loan_id,
        status=status,
        case=facts.case,
        borrower=facts.borrower,
        assignee=facts.assignee,
        attempt_id=attempt or open_call_task(web.store, facts.case.case_id) or "",
        script=call_script(status, facts.borrower, locale),
        conduct=conduct_rules(locale),
        limits=limits(facts.case, status, today),
        today=today,
        answer=take_answer(request, key=loan_id),
        settlement_requests=settlement_requests.loan_settlements(web.store, loan_id),
        outcomes=OUTCOMES,
        hold_kinds=HOLD_KINDS,
        intervals=INTERVALS,
        money=money,
        contact_time=contact_time,
        new_id=lambda: uuid4().hex,
    )


@router.post("/cases/{loan_id}/outcome")
async def record_outcome(
    request: Request,
    user: Agent,
    loan_id: str,
    attempt_id: Annotated[str, Form(min_length=1, max_length=128)],
    outcome: Annotated[str, Form()],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """The call's outcome, under the task's own id; the claim ends once the case recorded it
    (a rejection leaves the claim: the agent is still on the call)."""
    web = context(request)
    try:
        facts = _acting_on(web, user, loan_id)
        arg: dict[str, Any] = {"attempt_id": attempt_id, "outcome": outcome}
        if note.strip():
            arg["note"] = note.strip()
        sent = await send_update(web, user, loan_id, "record_contact_outcome", arg)
    except PageRefusal as refused:
        return refusal_page(request, user, refused)
    if sent.accepted:
        release_claim(
            web.store, borrower_key=facts.case.borrower_id, user=user.user_name, now=web.now()
        )
    _answered(request, loan_id, sent, f"Outcome recorded: {outcome}.")
    return _back(loan_id, attempt_id)


@router.post("/cases/{loan_id}/promise")
async def take_promise(
    request: Request,
    user: Agent,
    loan_id: str,
    message_id: MessageId,
    amount: Annotated[str, Form(max_length=32)],
    due_date: Annotated[str, Form(max_length=10)],
    attempt_id: Attempt = "",
) -> Response:
    web = context(request)
    try:
        facts = _acting_on(web, user, loan_id)
        try:
            amount_minor, due = _amount_and_date(facts, amount, due_date)
        except FormProblem as problem:
            _form_problem(request, loan_id, problem)
            return _back(loan_id, attempt_id)
        arg = {"promise_id": message_id, "amount_minor": amount_minor, "due_date": due.isoformat()}
        sent = await send_update(web, user, loan_id, "promise_to_pay", arg)
    except PageRefusal as refused:
        return refusal_page(request, user, refused)
    words = f"Promise accepted: {money(amount_minor, facts.case.currency)} by {due.isoformat()}."
    _answered(request, loan_id, sent, words)
    return _back(loan_id, attempt_id)


async def _quote(
    web: WebContext, facts: CaseFacts, count: str, first_due: str, interval: str
) -> PlanQuote:
    """The calculator's schedule for the form, checked with the case's rules on its today."""
    status = await case_status(web, facts.case.loan_id)
    return quote_plan(
        owed(status),
        form_count(count),
        form_date(first_due, "first_due"),
        form_interval(interval),
        rules=policy_named(facts.case.policy).commitments,
        today=case_today(facts.case, web.now()),
    )


PlanForm = Annotated[str, Form(max_length=16)]


@router.post("/cases/{loan_id}/plan/preview", response_class=HTMLResponse)
async def preview_plan(
    request: Request,
    user: Agent,
    loan_id: str,
    count: PlanForm,
    first_due: PlanForm,
    interval: PlanForm,
) -> HTMLResponse:
    """An htmx fragment: the schedule, or the refusal naming the field to change."""
    web = context(request)
    try:
        facts = case_facts(web, loan_id)
        quote = await _quote(web, facts, count, first_due, interval)
    except FormProblem as problem:
        return render(request, "case_plan_quote.html", user=user, problem=problem, quote=None)
    except PageRefusal as refused:
        return refusal_page(request, user, refused)
    return render(
        request,
        "case_plan_quote.html",
        user=user,
        problem=None,
        quote=quote,
        currency=facts.case.currency,
        money=money,
    )


@router.post("/cases/{loan_id}/plan")
async def propose_plan(
    request: Request,
    user: Agent,
    loan_id: str,
    message_id: MessageId,
    count: PlanForm,
    first_due: PlanForm,
    interval: PlanForm,
    attempt_id: Attempt = "",
) -> Response:
    """The calculator's schedule sent as `propose_plan`; one the case would refuse is not sent."""
    web = context(request)
    try:
        facts = _acting_on(web, user, loan_id)
        try:
            quote = await _quote(web, facts, count, first_due, interval)
        except FormProblem as problem:
            _form_problem(request, loan_id, problem)
            return _back(loan_id, attempt_id)
        if quote.refusal is not None:
            refused_plan = FormProblem(quote.refusal.field, quote.refusal.problem)
            _form_problem(request, loan_id, refused_plan)
            return _back(loan_id, attempt_id)
        sent = await send_update(web, user, loan_id, "propose_plan", quote.message(message_id))
    except PageRefusal as refused:
        return refusal_page(request, user, refused)
    _answered(request, loan_id, sent, f"Plan accepted: {len(quote.installments)} installments.")
    return _back(loan_id, attempt_id)


@router.post("/cases/{loan_id}/settlement-request")
def request_settlement(
    request: Request,
    user: Agent,
    loan_id: str,
    message_id: MessageId,
    amount: Annotated[str, Form(max_length=32)],
    due_date: Annotated[str, Form(max_length=10)],
    note: Annotated[str, Form(max_length=2000)] = "",
    attempt_id: Attempt = "",
) -> Response:
    """Recorded for a supervisor's approval (maker-checker); nothing goes to the case now."""
    web = context(request)
    try:
        facts = _acting_on(web, user, loan_id)
    except PageRefusal as refused:
        return refusal_page(request, user, refused)
    try:
        amount_minor, due = _amount_and_date(facts, amount, due_date)
    except FormProblem as problem:
        _form_problem(request, loan_id, problem)
        return _back(loan_id, attempt_id)
    settlement_requests.request_settlement(
        web.store,
        message_id,
        loan_id=loan_id,
        amount_minor=amount_minor,
        due_date=due.isoformat(),
        note=note.strip(),
        user_name=user.user_name,
        at=web.now(),
    )
    words = (
        f"Settlement request for {money(amount_minor, facts.case.currency)} by "
        f"{due.isoformat()} recorded: a supervisor decides it; nothing was sent to the case yet."
    )
    keep_answer(request, True, words, key=loan_id)
    return _back(loan_id, attempt_id)


@router.post("/cases/{loan_id}/hold")
async def place_hold(
    request: Request,
    user: Agent,
    loan_id: str,
    message_id: MessageId,
    kind: Annotated[str, Form(max_length=16)],
    reason: Annotated[str, Form(max_length=2000)],
    attempt_id: Attempt = "",
) -> Response:
    """A dispute or complaint hold: the case stops contacting the borrower until released."""
    web = context(request)
    try:
        _acting_on(web, user, loan_id)
        if kind not in HOLD_KINDS:
            _form_problem(request, loan_id, FormProblem("kind", "must be dispute or complaint"))
            return _back(loan_id, attempt_id)
        arg = {"hold_id": message_id, "kind": kind, "reason": reason.strip()}
        sent = await send_update(web, user, loan_id, "place_hold", arg)
    except PageRefusal as refused:
        return refusal_page(request, user, refused)
    _answered(request, loan_id, sent, f"Hold placed: {kind}.")
    return _back(loan_id, attempt_id)
