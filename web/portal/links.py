"""The borrower's link and second factor: `GET /p/{token}` (a page offering a one-time code),
`POST /p/{token}/code` (sends it), `POST /p/{token}/verify` (opens the borrower's session),
and `POST /p/{token}/new-link` for a link that cannot be opened.

Before the code nothing of the case is shown: no name, no amount, no loan; only where the code
goes, masked. A tampered, unknown or expired token gets one and the same page, whose "send me a
new link" sends one (to the contact details on file) only for a genuine token, and answers the
same words either way. Every count is kept in `portal_events`, with the client's address.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from activities.failures import policy_named
from activities.portal_links import find_link, is_expired, make_link
from domain import portal
from migrations.portal_tables import PortalCodeRow, PortalLinkRow
from migrations.tables import CaseRow, utc_iso
from web.context import WebContext, context
from web.portal.messages import destination, send_transactional
from web.portal.session import BorrowerSession, open_borrower_session
from web.portal.store import add_code, event_times, latest_code, record_event
from web.portal.words import browser_words, words_for

router = APIRouter()
NO_STORE = {"Cache-Control": "no-store"}
PAUSE_LOOKBACK = portal.CODE_PAUSE * 2


def client_of(request: Request) -> str:
    return request.client.host if request.client else ""


@dataclass(frozen=True)
class OpenedLink:
    """A genuine, unexpired link to a case that exists, as one request found it."""

    web: WebContext
    now: datetime
    link: PortalLinkRow
    case: CaseRow


def opened_link(request: Request, token: str) -> OpenedLink | None:
    """The link `token` opens now; None for a tampered, unknown or expired one (each route
    answers that with `generic_page`, the same for all three)."""
    web = context(request)
    now = web.now()
    link = find_link(web.store, web.portal_keys().secret, token)
    if link is None or is_expired(link, now):
        return None
    case = web.store.get(CaseRow, link.case_id)
    return None if case is None else OpenedLink(web, now, link, case)


Opened = Annotated[OpenedLink | None, Depends(opened_link)]


def generic_page(
    request: Request, token: str, notice: str = "", status_code: int = 200
) -> HTMLResponse:
    """The one page for every link that cannot be opened: the browser's words, nothing else."""
    words = browser_words(request)
    shown = token if portal.TOKEN_SHAPE.fullmatch(token) else ""
    return context(request).templates.TemplateResponse(
        request,
        "portal/generic.html",
        {"words": words, "token": shown, "notice": words.get(notice, "")},
        status_code=status_code,
        headers=NO_STORE,
    )


def link_page(
    request: Request, token: str, case: CaseRow, notice: str = "", status_code: int = 200
) -> HTMLResponse:
    web = context(request)
    borrower, to = destination(web.store, case)
    words = words_for(borrower.locale if borrower else "")
    return web.templates.TemplateResponse(
        request,
        "portal/link.html",
        {"words": words, "token": token, "destination": to, "notice": words.get(notice, "")},
        status_code=status_code,
        headers=NO_STORE,
    )


@router.get("/p/{token}", response_class=HTMLResponse)
def open_link(request: Request, token: str, opened: Opened) -> HTMLResponse:
    if opened is None:
        return generic_page(request, token)
    web, now, link, case = opened.web, opened.now, opened.link, opened.case
    record_event(
        web.store,
        portal.LINK_OPENED,
        at=now,
        link_id=link.link_id,
        case_id=case.case_id,
        client=client_of(request),
    )
    return link_page(request, token, case)


def _paused(web: WebContext, link: PortalLinkRow, now: datetime) -> bool:
    wrong = event_times(
        web.store, portal.CODE_WRONG, since=now - PAUSE_LOOKBACK, link_id=link.link_id
    )
    until = portal.paused_until(wrong)
    return until is not None and now < until


@router.post("/p/{token}/code", response_class=HTMLResponse)
def send_code(request: Request, token: str, opened: Opened) -> HTMLResponse:
    if opened is None:
        return generic_page(request, token)
    web, now, link, case = opened.web, opened.now, opened.link, opened.case
    if _paused(web, link, now):
        return link_page(request, token, case, "paused", 429)
    client = client_of(request)
    since = now - portal.HOUR
    if not portal.within_limit(
        event_times(web.store, portal.CODE_SENT, since=since, link_id=link.link_id),
        portal.CODES_PER_LINK_PER_HOUR,
        portal.HOUR,
        now,
    ) or not portal.within_limit(
        event_times(web.store, portal.CODE_SENT, since=since, client=client),
        portal.CODES_PER_CLIENT_PER_HOUR,
        portal.HOUR,
        now,
    ):
        return link_page(request, token, case, "too_many_codes", 429)
    borrower, to = destination(web.store, case)
    if borrower is None or to is None:
        return link_page(request, token, case)
    code = portal.new_code()
    text = portal.message_text(portal.CODE_TEMPLATE, borrower.locale, code=code)
    # Counted before the send: a provider that fails still used one of the link's codes.
    record_event(
        web.store,
        portal.CODE_SENT,
        at=now,
        link_id=link.link_id,
        case_id=case.case_id,
        client=client,
    )
    attempt_id = send_transactional(web, case, to, portal.CODE_TEMPLATE, text, now)
    if attempt_id is None:
        return link_page(request, token, case, "code_not_sent", 503)
    add_code(
        web.store,
        PortalCodeRow(
            link_id=link.link_id,
            code_hash=portal.code_hash(web.portal_keys().secret, link.link_id, code),
            attempt_id=attempt_id,
            sent_at=utc_iso(now),
            expires_at=utc_iso(now + portal.CODE_LIFETIME),
        ),
    )
    return link_page(request, token, case, "code_sent")


@router.post("/p/{token}/verify", response_class=HTMLResponse)
def verify_code(
    request: Request, token: str, opened: Opened, code: Annotated[str, Form(max_length=16)] = ""
) -> Response:
    if opened is None:
        return generic_page(request, token)
    web, now, link, case = opened.web, opened.now, opened.link, opened.case
    if _paused(web, link, now):
        return link_page(request, token, case, "paused", 429)
    kept = latest_code(web.store, link.link_id)
    secret = web.portal_keys().secret
    usable = kept is not None and portal.code_usable(
        portal.CodeState(
            datetime.fromisoformat(kept.sent_at), kept.tries, kept.used_at is not None
        ),
        now,
    )
    client = client_of(request)
    if (
        kept is None
        or not usable
        or not portal.code_matches(secret, link.link_id, code, kept.code_hash)
    ):
        if kept is not None:
            web.store.update(PortalCodeRow, kept.id, tries=kept.tries + 1)
        record_event(
            web.store,
            portal.CODE_WRONG,
            at=now,
            link_id=link.link_id,
            case_id=case.case_id,
            client=client,
        )
        notice = "paused" if _paused(web, link, now) else "wrong_code"
        return link_page(request, token, case, notice, 429 if notice == "paused" else 200)
    web.store.update(PortalCodeRow, kept.id, used_at=utc_iso(now))
    borrower, _ = destination(web.store, case)
    open_borrower_session(
        request,
        BorrowerSession(case.loan_id, case.case_id, borrower.locale if borrower else "zh-CN"),
        now,
    )
    record_event(
        web.store,
        portal.SIGNED_IN,
        at=now,
        link_id=link.link_id,
        case_id=case.case_id,
        client=client,
    )
    return RedirectResponse("/p/home", status_code=303)


@router.post("/p/{token}/new-link", response_class=HTMLResponse)
def request_new_link(request: Request, token: str) -> HTMLResponse:
    """Same words for every token; a new link goes out only for a genuine one, under limits."""
    web = context(request)
    now = web.now()
    client = client_of(request)
    if not portal.within_limit(
        event_times(web.store, portal.LINK_REQUESTED, since=now - portal.HOUR, client=client),
        portal.LINK_REQUESTS_PER_CLIENT_PER_HOUR,
        portal.HOUR,
        now,
    ):
        return generic_page(request, token, "too_many_links", 429)
    link = find_link(web.store, web.portal_keys().secret, token)
    case = None if link is None else web.store.get(CaseRow, link.case_id)
    record_event(
        web.store,
        portal.LINK_REQUESTED,
        at=now,
        case_id=case.case_id if case else "",
        client=client,
    )
    if case is not None and case.closed_at is None:
        _send_new_link(web, case, now)
    return generic_page(request, token, "new_link_sent")


def _send_new_link(web: WebContext, case: CaseRow, now: datetime) -> None:
    sent = event_times(
        web.store, portal.LINK_REQUESTED, since=now - portal.DAY, case_id=case.case_id
    )
    # This request is among them already: more than the limit means over it.
    if len(sent) > portal.LINK_REQUESTS_PER_CASE_PER_DAY:
        return
    borrower, to = destination(web.store, case)
    if borrower is None or to is None:
        return
    url = make_link(
        web.store,
        web.portal_keys(),
        case,
        at=now,
        days=policy_named(case.policy).portal_link_days,
    )
    text = portal.message_text(portal.LINK_TEMPLATE, borrower.locale, link=url)
    send_transactional(web, case, to, portal.LINK_TEMPLATE, text, now)
