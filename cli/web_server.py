"""`web`: serve the collectors' desk (`web.app`) with uvicorn on `WEB_HOST:WEB_PORT`, and on
it the inbound webhooks and the codec server when configured (`web.mounts`).

Refuses a case database behind this version's schema, as the worker does. uvicorn runs
without proxy headers: the client address must be the TCP peer's, because single sign-on
trusts the user header only from the addresses in `WEB_TRUSTED_PROXIES`.
"""

from __future__ import annotations

import argparse
import logging

import uvicorn

from activities.store import Store
from cli.arguments import ClientFactory, CommandSet
from cli.console import EXIT_ERROR, EXIT_OK, UsageError, failed, out
from migrations import SchemaNotCurrent
from runtime import settings as runtime_settings
from web.mounts import DeskApp, QuietPaths, desk_app
from web.settings import WebSettings, WebSettingsError


def server_config(settings: WebSettings, desk: DeskApp) -> uvicorn.Config:
    config = uvicorn.Config(
        desk.app,
        host=settings.host,
        port=settings.port,
        http=desk.http,
        proxy_headers=False,
        server_header=False,
        log_level="info",
    )
    # After the Config, which (re)configures uvicorn's loggers; one filter per process.
    access = logging.getLogger("uvicorn.access")
    for old in [f for f in access.filters if isinstance(f, QuietPaths)]:
        access.removeFilter(old)
    access.addFilter(QuietPaths(desk.quiet_paths))
    return config


async def cmd_web(args: argparse.Namespace, connect: ClientFactory) -> int:
    try:
        settings = WebSettings.from_env()
        portal_base_url = runtime_settings.portal_base_url()
        runtime_settings.portal_secret()  # a malformed one is refused now, not at a first link
    except (WebSettingsError, runtime_settings.UsageError) as error:
        raise UsageError(str(error)) from None
    store = Store.from_env()
    try:
        store.require_current_schema()
    except SchemaNotCurrent as error:
        store.dispose()
        return failed(f"case database: {error}, then start the desk again", EXIT_ERROR)
    try:
        desk = desk_app(settings, store, temporal_client=connect)
        out(f"collectors' desk on {settings.url} (sign in at {settings.url}/login)")
        out(f"borrower portal: links {portal_base_url}/p/... (PORTAL_BASE_URL)")
        for line in desk.mounted():
            out(line)
        server = uvicorn.Server(server_config(settings, desk))
        await server.serve()
    finally:
        store.dispose()
    return EXIT_OK if server.started else EXIT_ERROR


def register(commands: CommandSet) -> None:
    commands.add(
        "web",
        cmd_web,
        "Serve the collectors' desk on WEB_HOST:WEB_PORT (default 127.0.0.1:8000); "
        "GET /healthz answers 200. With their settings, also the inbound webhooks "
        "(/twilio/..., /sendgrid/events) and the codec server (/codec/encode, /codec/decode).",
    )
