"""Signing in and out, `/` and `/healthz`: the routes open to everyone.

A right sign-in opens a session row and answers 303 to the user's first page; a wrong one
answers 401 with the form again and changes no cookie. Too many failures answer 429 before
the password is checked (see `web.throttle`). Handlers are plain functions, so argon2 and the
database run on FastAPI's worker threads rather than stalling every other request.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from migrations.desk_tables import USER_NAME_MAX
from web.auth import FIRST_PAGE, SESSION_KEY, client_address, signed_in_user
from web.context import context
from web.csrf import renew_token
from web.passwords import verify
from web.rendering import render

router = APIRouter()
# Names no user, no password and no address: a sign-in's outcome is counted, not described.
log = logging.getLogger("web.signin")

WRONG = "Wrong user name or password."


@router.get("/healthz", response_class=PlainTextResponse)
def healthz() -> str:
    return "ok"


@router.get("/")
def home(request: Request) -> RedirectResponse:
    user = signed_in_user(request)
    return RedirectResponse(user.first_page if user else "/login", status_code=303)


@router.get("/login", response_model=None)
def login_form(request: Request) -> Response:
    user = signed_in_user(request)
    if user is not None:
        return RedirectResponse(user.first_page, status_code=303)
    return render(request, "login.html", user=None)


@router.post("/login", response_model=None)
def sign_in(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    web = context(request)
    name = username.strip()[:USER_NAME_MAX]
    client = client_address(request)
    now = web.now()
    wait = web.throttle.retry_after(web.desk, name, client, now)
    if wait:
        log.warning("desk sign-in throttled")
        minutes = -(-wait // 60)
        return render(
            request,
            "login.html",
            user=None,
            status_code=429,
            headers={"Retry-After": str(wait)},
            error=f"Too many failed sign-ins: try again in {minutes} minute(s).",
            username=name,
        )
    row = web.desk.user(name) if name else None
    verdict = verify(row.password_hash if row is not None and row.active else None, password)
    if row is None or not verdict.right:
        web.throttle.fail(web.desk, name, client, now)
        log.info("desk sign-in refused")
        return render(request, "login.html", user=None, status_code=401, error=WRONG, username=name)
    if verdict.new_hash is not None:
        web.desk.set_password(row.user_name, verdict.new_hash, at=now)
    web.desk.clear_failures(row.user_name)
    _end_current_session(request)
    # A new session id and token, never the ones a visitor had before signing in (fixation).
    request.session.clear()
    request.session[SESSION_KEY] = web.desk.open_session(
        row.user_name, at=now, lifetime=web.session_lifetime
    )
    renew_token(request.session)
    log.info("desk sign-in")
    return RedirectResponse(FIRST_PAGE[row.role], status_code=303)


@router.post("/logout")
def sign_out(request: Request) -> RedirectResponse:
    _end_current_session(request)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


def _end_current_session(request: Request) -> None:
    session_id = request.session.get(SESSION_KEY)
    if isinstance(session_id, str):
        web = context(request)
        web.desk.end_session(session_id, at=web.now())
