"""The Jinja2 templates of web/templates and how a page renders one: the layout gets the
signed-in user, the navigation for their role and the CSRF field's function."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from web.auth import DeskUser
from web.context import WEB_DIR, NavLink, context
from web.csrf import csrf_field, csrf_token


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=WEB_DIR / "templates")
    # Autoescape is on for .html; the field's Markup is the one piece of HTML a value adds.
    templates.env.globals["csrf_field"] = csrf_field
    templates.env.globals["csrf_token"] = lambda request: csrf_token(request.session)
    return templates


def nav_for(links: list[NavLink], user: DeskUser | None) -> list[NavLink]:
    if user is None:
        return []
    return [link for link in links if user.role in link.roles]


def render(
    request: Request,
    name: str,
    *,
    user: DeskUser | None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> HTMLResponse:
    web = context(request)
    return web.templates.TemplateResponse(
        request,
        name,
        {"user": user, "nav": nav_for(web.nav, user), **values},
        status_code=status_code,
        headers=headers,
    )


def error_page(
    request: Request, user: DeskUser | None, status_code: int, heading: str, message: str
) -> HTMLResponse:
    """The desk's one error page: a heading and plain words, never a stack trace."""
    return render(
        request,
        "error.html",
        user=user,
        status_code=status_code,
        heading=heading,
        message=message,
    )
