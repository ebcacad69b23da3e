"""What the routers share, on `app.state.web`: the settings, the stores, the clock, the Temporal
client factory and the templates. `context(request)` gives it typed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates
from temporalio.client import Client

from activities.notify import Notifier, notifier_from_env
from activities.portal_links import LinkKeys
from activities.store import Store
from web.desk_store import DeskStore
from web.settings import WebSettings
from web.throttle import Throttle

WEB_DIR = Path(__file__).resolve().parent
SESSION_LIFETIME = timedelta(hours=12)


@dataclass(frozen=True)
class NavLink:
    """A page in the navigation bar, shown to the roles that may open it."""

    path: str
    title: str
    roles: frozenset[str]


@dataclass
class WebContext:
    settings: WebSettings
    store: Store
    desk: DeskStore
    clock: Callable[[], datetime]
    temporal_client: Callable[[], Awaitable[Client]] | None
    templates: Jinja2Templates
    throttle: Throttle = field(default_factory=Throttle)
    nav: list[NavLink] = field(default_factory=list)
    session_lifetime: timedelta = SESSION_LIFETIME
    # The borrower's portal: how its links are signed, and the providers its messages take
    # (None: read from the environment at first use, as the worker reads them).
    link_keys: LinkKeys | None = None
    notifier: Notifier | None = None

    def now(self) -> datetime:
        return self.clock()

    def portal_keys(self) -> LinkKeys:
        if self.link_keys is None:
            self.link_keys = LinkKeys.from_env(self.store)
        return self.link_keys

    def sender(self) -> Notifier:
        if self.notifier is None:
            self.notifier = notifier_from_env()
        return self.notifier

    async def client(self) -> Client:
        """The Temporal client; a page that needs one when none was given is a setup error."""
        if self.temporal_client is None:
            raise RuntimeError("this web application was created without a Temporal client")
        return await self.temporal_client()


def context(request: Request) -> WebContext:
    found: WebContext = request.app.state.web
    return found
