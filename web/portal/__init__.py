"""The borrower's portal (issue 17): its routers, all under `/p/`, in the desk's application
(the desk's security headers, signed cookie and CSRF check apply); see docs/portal.md."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from web.portal import actions, home, links
from web.portal.session import SIGNED_OUT_PATH, NoBorrowerSession

# Fixed paths before `/p/{token}`: FastAPI tries routes in order.
PORTAL_ROUTERS = (home.router, actions.router, links.router)


def install_portal(app: FastAPI) -> None:
    for router in PORTAL_ROUTERS:
        app.include_router(router)

    @app.exception_handler(NoBorrowerSession)
    async def no_borrower(request: Request, _: Exception) -> Response:
        return RedirectResponse(SIGNED_OUT_PATH, status_code=303)
