"""The collectors' desk under test: an app on a test's store with a clock the test moves, desk
users with known passwords, and a browser (httpx over ASGI) that keeps cookies and fills in
the CSRF field as a real form would. `desk_clock` is registered by tests/conftest.py."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from activities.store import Store
from web.app import create_app
from web.desk_store import DeskStore
from web.passwords import hash_password
from web.settings import WebSettings

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple"
USERS = {"agent1": "agent", "field1": "field", "super1": "supervisor"}
TOKEN_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
LOOPBACK = ("127.0.0.1", 50000)


@dataclass
class DeskClock:
    """The desk's only "now"; a test moves it instead of waiting."""

    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


@pytest.fixture
def desk_clock() -> DeskClock:
    return DeskClock()


def add_desk_users(store: Store, users: dict[str, str] | None = None) -> DeskStore:
    """`users` (name → role) with `PASSWORD`, made as `starter.py desk-user add` makes them."""
    desk = DeskStore(store)
    password_hash = hash_password(PASSWORD)
    for name, role in (users or USERS).items():
        desk.add_user(name, role=role, password_hash=password_hash, buckets="", at=NOW)
    return desk


def desk_app(store: Store, clock: DeskClock, settings: WebSettings | None = None) -> FastAPI:
    return create_app(settings or WebSettings(), store=store, clock=clock)


@dataclass
class Browser:
    """One browser: its cookies, its client address, the token of the last form it saw."""

    app: FastAPI
    client_address: tuple[str, int] = LOOPBACK
    base_url: str = "http://testserver"
    token: str = ""
    http: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        transport = httpx.ASGITransport(app=self.app, client=self.client_address)
        self.http = httpx.AsyncClient(transport=transport, base_url=self.base_url)

    async def get(self, path: str, *, html: bool = True, **kwargs: object) -> httpx.Response:
        headers = {"Accept": "text/html"} if html else {"Accept": "application/json"}
        response = await self.http.get(path, headers=headers, **kwargs)  # type: ignore[arg-type]
        found = TOKEN_FIELD.search(response.text)
        if found:
            self.token = found.group(1)
        return response

    async def post(
        self, path: str, data: dict[str, str] | None = None, *, token: str | None = None
    ) -> httpx.Response:
        """A form post carrying the page's CSRF token (or `token`; "" sends none)."""
        form = dict(data or {})
        token = self.token if token is None else token
        if token:
            form["csrf_token"] = token
        return await self.http.post(path, data=form)

    async def sign_in(self, user_name: str, password: str = PASSWORD) -> httpx.Response:
        await self.get("/login")
        return await self.post("/login", {"username": user_name, "password": password})

    async def close(self) -> None:
        await self.http.aclose()
