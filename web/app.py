"""The collectors' desk as one FastAPI application: `create_app` puts together the settings,
the case database, the Temporal client factory and a clock with the routers of web/pages.

The layers every request passes, outermost first: security headers, the signed session
cookie, the CSRF check (before any route can change anything), then the routes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from temporalio.client import Client

from activities.notify import Notifier
from activities.portal_links import LinkKeys
from activities.store import Store
from web.auth import NotSignedIn, WrongRole, wants_html
from web.context import WEB_DIR, NavLink, WebContext
from web.csrf import CSRFMiddleware
from web.desk_store import DeskStore
from web.headers import SecurityHeadersMiddleware
from web.pages import PAGE_MODULES
from web.portal import install_portal
from web.rendering import error_page, make_templates
from web.session_cookie import SessionCookieMiddleware
from web.settings import WebSettings
from web.signin import router as signin_router


def utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: WebSettings,
    *,
    store: Store,
    temporal_client: Callable[[], Awaitable[Client]] | None = None,
    clock: Callable[[], datetime] | None = None,
    csrf_exempt: Iterable[str] = (),
    link_keys: LinkKeys | None = None,
    notifier: Notifier | None = None,
) -> FastAPI:
    """The desk. `temporal_client` is called by the pages that talk to cases (None: no page
    may); `clock` is the only "now" the desk reads; `csrf_exempt` lists path prefixes whose
    routers check their callers themselves (the webhooks verify signatures); `link_keys` and
    `notifier` are the borrower portal's (None: from the environment at first use)."""
    # No generated API pages: the desk is HTML, and Swagger's page would need a CDN.
    app = FastAPI(title="Collectors' desk", docs_url=None, redoc_url=None, openapi_url=None)
    web = WebContext(
        settings=settings,
        store=store,
        desk=DeskStore(store),
        clock=clock or utc_now,
        temporal_client=temporal_client,
        templates=make_templates(),
        link_keys=link_keys,
        notifier=notifier,
    )
    app.state.web = web
    app.state.clock = web.clock
    app.state.temporal_client = temporal_client
    app.include_router(signin_router)
    for module in PAGE_MODULES:
        app.include_router(module.router)
        nav: tuple[NavLink, ...] = getattr(module, "NAV", ())
        web.nav.extend(nav)
    install_portal(app)
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")
    _add_refusals(app)
    # Added innermost first: each `add_middleware` wraps the ones before it.
    app.add_middleware(CSRFMiddleware, exempt=tuple(csrf_exempt))
    app.add_middleware(
        SessionCookieMiddleware,
        secret=settings.session_secret,
        lifetime=web.session_lifetime,
        secure=settings.secure_cookies,
    )
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.secure_cookies)
    return app


def _add_refusals(app: FastAPI) -> None:
    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, _: Exception) -> Response:
        if wants_html(request):
            return RedirectResponse("/login", status_code=303)
        return PlainTextResponse("sign in first", status_code=401)

    @app.exception_handler(WrongRole)
    async def wrong_role(request: Request, error: Exception) -> Response:
        assert isinstance(error, WrongRole)
        return error_page(
            request,
            error.user,
            403,
            "Not for your role",
            f"This page is not open to the {error.user.role} role.",
        )
