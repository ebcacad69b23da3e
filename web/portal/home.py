"""A placeholder of the borrower's home page (`/p/home`): signed in, and the loan; the real
page replaces this module's router."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from web.context import context
from web.portal.links import NO_STORE
from web.portal.session import BorrowerSession, require_borrower
from web.portal.words import browser_words, words_for

router = APIRouter()


@router.get("/p/home", response_class=HTMLResponse)
def home(
    request: Request, borrower: Annotated[BorrowerSession, Depends(require_borrower)]
) -> HTMLResponse:
    return context(request).templates.TemplateResponse(
        request,
        "portal/home.html",
        {"words": words_for(borrower.locale), "borrower": borrower},
        headers=NO_STORE,
    )


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
