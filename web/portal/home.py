"""The borrower's own page, `/p/home`: what is owed (in all and by part), since when, what the
case does next and when, the lender's contact and ways to pay, the borrower's payments and
current promise or plan, and the forms of `web.portal.actions`. In the borrower's locale
(`POST /p/lang` switches it for the session); one title for every page, no personal data in
URLs. A page without a borrower's session goes to `/p/again` (no case data)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import uuid4

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from domain.callbacks import CallbackLimits, callback_limits
from templates import loaded_templates
from web.case_answers import take_answer
from web.case_page import (
    CaseFacts,
    balance_parts,
    case_today,
    contact_time,
    limits,
    money,
    open_case,
)
from web.case_reading import clock_of, policy_named
from web.case_talk import PageRefusal, case_status
from web.context import WebContext, context
from web.headers import CSP_HEADER, content_security_policy
from web.portal.checkout import CheckoutSettings
from web.portal.home_words import home_words, next_kind, next_sentence
from web.portal.links import NO_STORE
from web.portal.session import SESSION_KEY, BorrowerSession, require_borrower
from web.portal.words import browser_words, words_for

router = APIRouter()
HOME_PATH = "/p/home"
ANSWER_SCOPE = "portal"
LOCALES = ("zh-CN", "en")
Borrower = Annotated[BorrowerSession, Depends(require_borrower)]


@dataclass(frozen=True)
class OpenCase:
    facts: CaseFacts
    status: dict[str, Any]


async def read_case(web: WebContext, loan_id: str) -> OpenCase | None:
    """The borrower's open case and its `status`; None: no open case or the cases unreachable."""
    facts = open_case(web.store, loan_id)
    if facts is None:
        return None
    try:
        status = await case_status(web, loan_id)
    except PageRefusal:
        return None
    return OpenCase(facts, status)


def page_words(locale: str) -> dict[str, str]:
    return {**words_for(locale), **home_words(locale)}


def zone_of(facts: CaseFacts) -> str:
    """The borrower's zone as the case keeps it (the policy's when the borrower named none):
    the one its clock, its contact window and its call backs go by."""
    return facts.case.timezone


def next_step(locale: str, status: Mapping[str, Any], zone: str) -> str | None:
    action = status.get("next_action")
    if not isinstance(action, Mapping):
        return None
    label = str(action.get("kind", ""))
    # The case wakes for a promise or an installment when its grace has run out; the borrower
    # reads the date they committed to.
    due_date = committed_date(status, next_kind(label))
    at = due_date or contact_time(str(action.get("due_at", "")), zone)
    return next_sentence(locale, label, at)


def committed_date(status: Mapping[str, Any], kind: str) -> str | None:
    """The due date of the promise, or of the plan's next installment, that `kind` is about."""
    committed: Any = None
    if kind == "promise" and isinstance(promise := status.get("promise"), Mapping):
        committed = promise
    if kind == "installment" and isinstance(plan := status.get("plan"), Mapping):
        installments = plan.get("installments", [])
        committed = next((i for i in installments if i.get("state") == "due"), None)
    return str(committed["due_date"]) if committed and committed.get("due_date") else None


def callback_range(web: WebContext, facts: CaseFacts) -> CallbackLimits:
    """The dates and hours the call-back form offers, on the borrower's clock."""
    case = facts.case
    return callback_limits(
        policy_named(case.policy), clock=clock_of(case), now=web.now(), timezone=zone_of(facts)
    )


def case_view(web: WebContext, locale: str, found: OpenCase) -> dict[str, Any]:
    """What the page shows of the case, beside the words."""
    facts, status = found.facts, found.status
    zone = zone_of(facts)
    return {
        "status": status,
        "case": facts.case,
        "parts": balance_parts(status),
        "next_step": next_step(locale, status, zone),
        "limits": limits(facts.case, status, case_today(facts.case, web.now())),
        "callback": callback_range(web, facts),
        "lender": loaded_templates().lenders.get(locale),
        "zone": zone,
    }


@router.get(HOME_PATH, response_class=HTMLResponse)
async def home(request: Request, borrower: Borrower, paid: str = "") -> HTMLResponse:
    web = context(request)
    found = await read_case(web, borrower.loan_id)
    answer = take_answer(request, key=ANSWER_SCOPE)
    words = page_words(borrower.locale)
    view = case_view(web, borrower.locale, found) if found else None
    return web.templates.TemplateResponse(
        request,
        "portal/home.html",
        {
            "words": words,
            "loan_id": borrower.loan_id,
            "view": view,
            "answer": answer,
            "paid": bool(paid),
            "money": money,
            "contact_time": contact_time,
            "new_id": lambda: uuid4().hex,
        },
        headers={**NO_STORE, **pay_form_policy()},
    )


def pay_form_policy() -> dict[str, str]:
    """The page's security policy, letting the Pay form go on to the checkout's hosted page
    when payments are configured (nothing otherwise: the desk's policy applies)."""
    settings = CheckoutSettings.from_env()
    if settings.secret_key is None:
        return {}
    return {CSP_HEADER: content_security_policy(form_targets=(settings.page_origin,))}


@router.post("/p/lang")
def switch_language(
    request: Request, borrower: Borrower, locale: Annotated[str, Form(max_length=16)]
) -> RedirectResponse:
    """The borrower's locale for this session (`zh-CN` or `en`; anything else is ignored)."""
    if locale in LOCALES:
        request.session[SESSION_KEY] = {**request.session[SESSION_KEY], "locale": locale}
    return RedirectResponse(HOME_PATH, status_code=303)


@router.get("/p/again", response_class=HTMLResponse)
def open_again(request: Request) -> HTMLResponse:
    """Where a page without a borrower's session sends the browser: no case data."""
    words = browser_words(request)
    return context(request).templates.TemplateResponse(
        request,
        "portal/generic.html",
        {"words": {**words, "cannot_open": words["open_again"]}, "token": "", "notice": ""},
        headers=NO_STORE,
    )
