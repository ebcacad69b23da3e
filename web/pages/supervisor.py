"""`/supervisor`: a placeholder until the page is built; it shows the layout to its roles."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse

from web.auth import DeskUser, require_role
from web.context import NavLink
from web.rendering import render

ROLES = ("supervisor",)
NAV = (NavLink("/supervisor", "Supervisor", frozenset(ROLES)),)
router = APIRouter()


@router.get("/supervisor", response_class=HTMLResponse)
def supervisor_page(
    request: Request, user: Annotated[DeskUser, Depends(require_role(*ROLES))]
) -> HTMLResponse:
    return render(
        request,
        "placeholder.html",
        user=user,
        heading="Supervisor",
        summary="Teams, assignments and the settlements waiting for approval.",
    )
