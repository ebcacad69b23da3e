"""The borrower's session: a separate key (`borrower`) of the desk's signed session cookie,
opened by the right one-time code and scoped to ONE case. It holds ids only (the cookie is
signed, not secret) and ends after `BORROWER_SESSION_LIFETIME`.

Pages of the borrower depend on `require_borrower`, which gives the `BorrowerSession` or, with
none, sends the browser to a page that says to open the link again (and shows no case data).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import Request

from web.context import context
from web.csrf import renew_token

SESSION_KEY = "borrower"
BORROWER_SESSION_LIFETIME = timedelta(minutes=30)
SIGNED_OUT_PATH = "/p/again"


@dataclass(frozen=True)
class BorrowerSession:
    loan_id: str
    case_id: str
    locale: str


class NoBorrowerSession(Exception):
    """No (or an expired) borrower's session: the link must be opened again."""


def open_borrower_session(request: Request, session: BorrowerSession, now: datetime) -> None:
    """Sign the borrower in to one case, replacing any session of another case; a new CSRF
    token, so a token seen before sign-in cannot be replayed after it."""
    request.session[SESSION_KEY] = {
        "loan_id": session.loan_id,
        "case_id": session.case_id,
        "locale": session.locale,
        "expires_at": (now + BORROWER_SESSION_LIFETIME).isoformat(),
    }
    renew_token(request.session)


def end_borrower_session(request: Request) -> None:
    request.session.pop(SESSION_KEY, None)


def borrower_session(request: Request) -> BorrowerSession | None:
    """The signed-in borrower, if any; an expired session is dropped."""
    data = request.session.get(SESSION_KEY)
    if not isinstance(data, dict):
        return None
    try:
        expires_at = datetime.fromisoformat(str(data["expires_at"]))
        found = BorrowerSession(str(data["loan_id"]), str(data["case_id"]), str(data["locale"]))
    except (KeyError, ValueError):
        found = None
        expires_at = None
    if found is None or expires_at is None or context(request).now() >= expires_at:
        end_borrower_session(request)
        return None
    return found


def require_borrower(request: Request) -> BorrowerSession:
    """FastAPI dependency of every borrower page."""
    found = borrower_session(request)
    if found is None:
        raise NoBorrowerSession()
    return found
