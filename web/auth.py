"""Who is asking: a signed-in session (its id in the signed cookie, its row in desk_sessions)
or, from a trusted proxy only, the user its header names (single sign-on).

Every page depends on `require_role(...)`, which returns the `DeskUser` or refuses: not
signed in → 303 to /login for a browser's GET, else 401; the wrong role → 403.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from fastapi import Request

from migrations.desk_tables import DeskUserRow
from web.context import context

# The page each role lands on after signing in.
FIRST_PAGE = {"agent": "/queue", "field": "/visits", "supervisor": "/supervisor"}
SESSION_KEY = "sid"
_USER_CACHE = "desk_user"
_UNKNOWN = object()


@dataclass(frozen=True)
class DeskUser:
    user_name: str
    role: str
    # The buckets this user's team works; empty: every bucket.
    buckets: tuple[str, ...]
    # None when the proxy signed the user in (there is no session of ours to end).
    session_id: str | None

    @property
    def first_page(self) -> str:
        return FIRST_PAGE[self.role]

    @classmethod
    def of(cls, row: DeskUserRow, session_id: str | None) -> DeskUser:
        buckets = tuple(part for part in row.buckets.split(",") if part)
        return cls(row.user_name, row.role, buckets, session_id)


class NotSignedIn(Exception):
    """No live session: the application answers 303 to /login or 401."""


class WrongRole(Exception):
    """Signed in, but this page is not for this user's role: 403."""

    def __init__(self, user: DeskUser) -> None:
        super().__init__(user.role)
        self.user = user


def client_address(request: Request) -> str:
    """The TCP peer (uvicorn runs without proxy headers, so no header can change this)."""
    host = request.client.host if request.client else ""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def signed_in_user(request: Request) -> DeskUser | None:
    """The user making this request, or None; looked up once per request."""
    found = getattr(request.state, _USER_CACHE, _UNKNOWN)
    if found is not _UNKNOWN:
        return cast(DeskUser | None, found)
    user = _look_up(request)
    setattr(request.state, _USER_CACHE, user)
    return user


def _look_up(request: Request) -> DeskUser | None:
    web = context(request)
    settings = web.settings
    if client_address(request) in settings.trusted_proxies:
        proxied = request.headers.get(settings.user_header, "").strip()
        if proxied:
            row = web.desk.user(proxied)
            return DeskUser.of(row, None) if row is not None and row.active else None
    session_id = request.session.get(SESSION_KEY)
    if not isinstance(session_id, str):
        return None
    row = web.desk.live_session_user(session_id, at=web.now())
    if row is None:
        # Ended, expired or its user disabled: the cookie is worth nothing from now on.
        request.session.pop(SESSION_KEY, None)
        return None
    return DeskUser.of(row, session_id)


def require_role(*roles: str) -> Callable[[Request], DeskUser]:
    """A dependency for a page open to `roles`: `user: DeskUser = Depends(require_role("agent"))`.

    A plain (sync) function, so FastAPI runs its database look-up on a worker thread.
    """
    allowed = frozenset(roles)

    def signed_in_with_role(request: Request) -> DeskUser:
        user = signed_in_user(request)
        if user is None:
            raise NotSignedIn
        if user.role not in allowed:
            raise WrongRole(user)
        return user

    return signed_in_with_role


def wants_html(request: Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("accept", "")
