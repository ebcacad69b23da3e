"""`/visits`: a placeholder until the page is built; it shows the layout to its roles."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse

from web.auth import DeskUser, require_role
from web.context import NavLink
from web.rendering import render

ROLES = ("field",)
NAV = (NavLink("/visits", "Visits", frozenset(ROLES)),)
router = APIRouter()


@router.get("/visits", response_class=HTMLResponse)
def visits_page(
    request: Request, user: Annotated[DeskUser, Depends(require_role(*ROLES))]
) -> HTMLResponse:
    return render(
        request,
        "placeholder.html",
        user=user,
        heading="Visits",
        summary="The field visits assigned to you.",
    )
