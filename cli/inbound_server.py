"""`starter.py webhooks`: the inbound webhooks (`web.inbound`) served by uvicorn until the
process is stopped."""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace

from activities.store import Store
from cli.arguments import ClientFactory, CommandSet
from cli.console import EXIT_OK, UsageError
from runtime.logs import configure_logging
from runtime.serving import listening_socket, serve_until_stopped, uvicorn_server
from web.inbound import application, connection_protocol
from web.inbound_requests import (
    DEFAULT_PORT,
    HOST_ENV,
    INSECURE_DEV_ENV,
    PORT_ENV,
    SENDGRID_TOKEN_ENV,
    TWILIO_TOKEN_ENV,
    Inbound,
    InboundSettings,
    parse_port,
)

# The same logger as the requests' module: one name in the logs for the whole server.
log = logging.getLogger("inbound")


async def serve(settings: InboundSettings) -> None:
    """Run the webhooks until SIGTERM or SIGINT, logging as the worker does."""
    settings.check()
    configure_logging()
    store = Store.from_env()
    try:
        store.require_current_schema()
        inbound = Inbound(store, settings)
        try:
            sock = listening_socket(settings.host, settings.port)
        except OSError as error:
            raise UsageError(
                f"{HOST_ENV}, {PORT_ENV}: cannot listen on {settings.host}:{settings.port} "
                f"({error.strerror})"
            ) from None
        _warn_if_unverified(settings)
        log.info("webhooks listening on %s:%d", settings.host, sock.getsockname()[1])
        server = uvicorn_server(application(inbound), http=connection_protocol(settings))
        await serve_until_stopped(server, sock)
    finally:
        store.dispose()


def _warn_if_unverified(settings: InboundSettings) -> None:
    for name, value in (
        (TWILIO_TOKEN_ENV, settings.twilio_auth_token),
        (SENDGRID_TOKEN_ENV, settings.sendgrid_token),
    ):
        if value is None:
            log.warning(
                "INSECURE: %s=1 and %s is not set: its requests are accepted UNVERIFIED; "
                "anyone who can reach this port can opt borrowers out. Never in production.",
                INSECURE_DEV_ENV,
                name,
            )


async def cmd_webhooks(args: argparse.Namespace, connect: ClientFactory) -> int:
    settings = InboundSettings.from_env()
    if args.port is not None:
        settings = replace(settings, port=parse_port(args.port, "--port"))
    if args.host is not None:
        settings = replace(settings, host=args.host)
    await serve(settings)
    return EXIT_OK


def register(commands: CommandSet) -> None:
    p = commands.add(
        "webhooks",
        cmd_webhooks,
        "Serve the inbound webhooks: delivery receipts and STOP replies (Twilio, SendGrid).",
    )
    p.add_argument("--port", help=f"default: {PORT_ENV} or {DEFAULT_PORT}")
    p.add_argument("--host", help=f"address to listen on; default: {HOST_ENV} or 127.0.0.1")
