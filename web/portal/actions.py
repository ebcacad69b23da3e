"""The borrower's actions on `/p/home`: a promise, a payment plan, a dispute, a call back,
stopping a channel, paying online.

Each is the case's contract update sent through `web.case_answers.send` with `source` =
`self_service` and the form's hidden `message_id` (made when the page rendered) as its
idempotency id, so a double submit changes nothing; then 303 back to `/p/home`, where the
answer is shown once in the borrower's words (`[data-answer]`). A refusal names the field.
`POST /p/pay` opens a hosted checkout for the outstanding amount when one is configured.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from activities.borrower_channels import record_opt_out
from domain.plan_calculator import MONTHLY, PlanQuote, quote_plan
from web.case_answers import Came, CaseAnswer, keep_answer, send
from web.case_page import (
    FormProblem,
    case_today,
    contact_time,
    form_count,
    form_date,
    form_time,
    minor_units,
    money,
    open_case,
    owed,
)
from web.case_reading import policy_named
from web.context import WebContext, context
from web.portal.checkout import CheckoutError, CheckoutSettings, start_checkout
from web.portal.home import (
    ANSWER_SCOPE,
    HOME_PATH,
    Borrower,
    OpenCase,
    page_words,
    read_case,
    zone_of,
)

router = APIRouter()
SOURCE = "self_service"
MessageId = Annotated[str, Form(min_length=1, max_length=128)]
Short = Annotated[str, Form(max_length=32)]


def _home() -> RedirectResponse:
    return RedirectResponse(HOME_PATH, status_code=303)


def _say(request: Request, accepted: bool, text: str) -> RedirectResponse:
    keep_answer(request, accepted, text, key=ANSWER_SCOPE)
    return _home()


async def _send(
    request: Request, borrower: Borrower, update: str, arg: dict[str, Any], done: str
) -> RedirectResponse:
    """Send the update; the answer in the borrower's words (`done` when accepted)."""
    words = page_words(borrower.locale)
    sent: CaseAnswer = await send(context(request), SOURCE, borrower.loan_id, update, arg)
    if sent.accepted:
        return _say(request, True, f"{words['accepted']} {done}")
    if sent.came is Came.REFUSED:
        return _say(request, False, words["refused"] + sent.reason)
    if sent.came is Came.NO_CASE:
        return _say(request, False, words["no_case"])
    return _say(request, False, words["not_now"])


async def _case(request: Request, borrower: Borrower) -> OpenCase | None:
    found = await read_case(context(request), borrower.loan_id)
    if found is None:
        keep_answer(request, False, page_words(borrower.locale)["not_now"], key=ANSWER_SCOPE)
    return found


def _problem(request: Request, borrower: Borrower, problem: FormProblem) -> RedirectResponse:
    return _say(request, False, page_words(borrower.locale)["refused"] + str(problem))


@router.post("/p/promise")
async def promise(
    request: Request, borrower: Borrower, message_id: MessageId, amount: Short, due_date: Short
) -> RedirectResponse:
    found = await _case(request, borrower)
    if found is None:
        return _home()
    currency = found.facts.case.currency
    try:
        amount_minor = minor_units(amount, currency)
        due = form_date(due_date, "due_date")
    except FormProblem as problem:
        return _problem(request, borrower, problem)
    arg = {"promise_id": message_id, "amount_minor": amount_minor, "due_date": due.isoformat()}
    done = page_words(borrower.locale)["promise_taken"].format(
        amount=money(amount_minor, currency), date=due.isoformat()
    )
    return await _send(request, borrower, "promise_to_pay", arg, done)


def _schedule(web: WebContext, found: OpenCase, count: str, first_due: str) -> PlanQuote:
    case = found.facts.case
    return quote_plan(
        owed(found.status),
        form_count(count),
        form_date(first_due, "first_due"),
        MONTHLY,
        rules=policy_named(case.policy).commitments,
        today=case_today(case, web.now()),
    )


@router.post("/p/plan")
async def plan(
    request: Request, borrower: Borrower, message_id: MessageId, count: Short, first_due: Short
) -> RedirectResponse:
    """Monthly installments of the outstanding amount (`domain.plan_calculator.quote_plan`);
    one the case would refuse is not sent, its refusal naming the field."""
    web = context(request)
    found = await _case(request, borrower)
    if found is None:
        return _home()
    try:
        quote = _schedule(web, found, count, first_due)
    except FormProblem as problem:
        return _problem(request, borrower, problem)
    if quote.refusal is not None:
        refusal = FormProblem(quote.refusal.calculator_input, quote.refusal.problem)
        return _problem(request, borrower, refusal)
    currency = found.facts.case.currency
    lines = "; ".join(
        f"{i.due_date.isoformat()} {money(i.amount_minor, currency)}" for i in quote.installments
    )
    done = page_words(borrower.locale)["plan_schedule"] + lines
    return await _send(request, borrower, "propose_plan", quote.message(message_id), done)


@router.post("/p/dispute")
async def dispute(
    request: Request,
    borrower: Borrower,
    message_id: MessageId,
    reason: Annotated[str, Form(max_length=2000)],
) -> RedirectResponse:
    arg = {"hold_id": message_id, "kind": "dispute", "reason": reason.strip()}
    done = page_words(borrower.locale)["dispute_taken"]
    return await _send(request, borrower, "place_hold", arg, done)


@router.post("/p/callback")
async def call_back(
    request: Request, borrower: Borrower, message_id: MessageId, date: Short, time: Short
) -> RedirectResponse:
    """A call back at the date and time picked on the borrower's clock (in the zone the page
    shows), sent as `request_callback`: the case queues a call task due then, or refuses a
    moment outside its contact window or horizon, naming `at`."""
    facts = open_case(context(request).store, borrower.loan_id)
    if facts is None:
        return _say(request, False, page_words(borrower.locale)["no_case"])
    zone = zone_of(facts)
    try:
        at = datetime.combine(form_date(date, "date"), form_time(time, "time"), ZoneInfo(zone))
    except FormProblem as problem:
        return _problem(request, borrower, problem)
    arg = {"request_id": message_id, "at": at.isoformat()}
    done = page_words(borrower.locale)["callback_taken"].format(
        at=contact_time(at.isoformat(), zone)
    )
    return await _send(request, borrower, "request_callback", arg, done)


# The channels a borrower can stop here: the notices', whose sending reads these marks. Calls
# are not offered: an agent's call task does not read them (calls stop with a dispute or a
# cease_contact hold, which the page offers as the dispute).
STOP_CHANNELS = ("sms", "email", "letter")


@router.post("/p/stop")
async def stop_channel(
    request: Request, borrower: Borrower, channel: Annotated[str, Form(max_length=16)]
) -> RedirectResponse:
    """The same opt-out as an SMS STOP: the borrower's address on that channel, on all loans."""
    words = page_words(borrower.locale)
    if channel not in STOP_CHANNELS:
        problem = FormProblem("channel", f"must be one of {', '.join(STOP_CHANNELS)}")
        return _problem(request, borrower, problem)
    web = context(request)
    facts = open_case(web.store, borrower.loan_id)
    if facts is None:
        return _say(request, False, words["no_case"])
    with web.store.session() as session:
        record_opt_out(
            session, facts.case.borrower_id, channel, source=SOURCE, reason="borrower's page"
        )
    return _say(request, True, words["stopped"] + words[f"channel_{channel}"])


@router.post("/p/pay")
async def pay(request: Request, borrower: Borrower, message_id: MessageId) -> RedirectResponse:
    """A hosted checkout for the outstanding amount, the form's id as its idempotency key."""
    words = page_words(borrower.locale)
    settings = CheckoutSettings.from_env()
    if settings.secret_key is None:
        return _say(request, False, words["payments_unavailable"])
    found = await _case(request, borrower)
    if found is None:
        return _home()
    if int(found.status["outstanding_minor"]) <= 0:
        return _say(request, False, words["nothing_owed"])
    home = str(request.base_url).rstrip("/") + HOME_PATH
    try:
        session = await start_checkout(
            settings,
            loan_id=borrower.loan_id,
            amount_minor=int(found.status["outstanding_minor"]),
            currency=str(found.status["currency"]),
            message_id=message_id,
            success_url=home + "?paid=1",
            cancel_url=home,
        )
    except CheckoutError:
        return _say(request, False, words["checkout_failed"])
    return RedirectResponse(session.url, status_code=303)
