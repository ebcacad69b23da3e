"""`web`: serve the collectors' desk (`web.app`) with uvicorn on `WEB_HOST:WEB_PORT`.

Refuses a case database behind this version's schema, as the worker does. uvicorn runs
without proxy headers: the client address must be the TCP peer's, because single sign-on
trusts the user header only from the addresses in `WEB_TRUSTED_PROXIES`.
"""

from __future__ import annotations

import argparse

import uvicorn

from activities.store import Store
from cli.arguments import ClientFactory, CommandSet
from cli.console import EXIT_ERROR, EXIT_OK, UsageError, failed, out
from migrations import SchemaNotCurrent
from web.app import create_app
from web.settings import WebSettings, WebSettingsError


def server_config(settings: WebSettings, store: Store, connect: ClientFactory) -> uvicorn.Config:
    app = create_app(settings, store=store, temporal_client=connect)
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        proxy_headers=False,
        server_header=False,
        log_level="info",
    )


async def cmd_web(args: argparse.Namespace, connect: ClientFactory) -> int:
    try:
        settings = WebSettings.from_env()
    except WebSettingsError as error:
        raise UsageError(str(error)) from None
    store = Store.from_env()
    try:
        store.require_current_schema()
    except SchemaNotCurrent as error:
        store.dispose()
        return failed(f"case database: {error}, then start the desk again", EXIT_ERROR)
    try:
        out(f"collectors' desk on {settings.url} (sign in at {settings.url}/login)")
        server = uvicorn.Server(server_config(settings, store, connect))
        await server.serve()
    finally:
        store.dispose()
    return EXIT_OK if server.started else EXIT_ERROR


def register(commands: CommandSet) -> None:
    commands.add(
        "web",
        cmd_web,
        "Serve the collectors' desk on WEB_HOST:WEB_PORT (default 127.0.0.1:8000); "
        "GET /healthz answers 200.",
    )
