"""`starter.py checkout-simulator`: the simulated hosted checkout (`web.portal.simulated_checkout`)
that `make run` starts next to the desk, so a borrower's payment can be tried end to end with
no provider account. It is a simulation: no money moves."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping

from cli.arguments import ClientFactory, CommandSet
from cli.console import EXIT_OK, UsageError, out
from runtime.serving import listening_socket, serve_until_stopped, url_of, uvicorn_server
from web.inbound_requests import parse_port
from web.portal.checkout import SECRET_KEY_ENV, WEBHOOK_PATH, WEBHOOK_SECRET_ENV
from web.portal.simulated_checkout import (
    DEFAULT_PORT,
    PORT_ENV,
    WEBHOOK_URL_ENV,
    Simulator,
    application,
)

HOST = "127.0.0.1"


def simulator_from_env(environ: Mapping[str, str] = os.environ) -> Simulator:
    """The simulator with the secret pair the desk shares; raises `UsageError` without it."""
    missing = [name for name in (SECRET_KEY_ENV, WEBHOOK_SECRET_ENV) if not environ.get(name)]
    if missing:
        raise UsageError(f"{' and '.join(missing)}: required (the desk must share them)")
    desk = f"http://127.0.0.1:{environ.get('WEB_PORT') or '8000'}"
    return Simulator(
        secret_key=environ[SECRET_KEY_ENV],
        webhook_secret=environ[WEBHOOK_SECRET_ENV],
        webhook_url=environ.get(WEBHOOK_URL_ENV) or desk + WEBHOOK_PATH,
    )


async def cmd_checkout_simulator(args: argparse.Namespace, connect: ClientFactory) -> int:
    simulator = simulator_from_env()
    port = parse_port(args.port or os.environ.get(PORT_ENV) or str(DEFAULT_PORT), PORT_ENV)
    try:
        # Loopback only: it takes any card-less "payment" and signs events with the secret.
        sock = listening_socket(HOST, port)
    except OSError as error:
        raise UsageError(f"{PORT_ENV}: cannot listen on {HOST}:{port} ({error.strerror})") from None
    out(
        f"simulated checkout on {url_of(sock)} (a SIMULATION: no money moves); "
        f"webhook events to {simulator.webhook_url}"
    )
    await serve_until_stopped(uvicorn_server(application(simulator)), sock)
    return EXIT_OK


def register(commands: CommandSet) -> None:
    p = commands.add(
        "checkout-simulator",
        cmd_checkout_simulator,
        "Serve a simulated hosted checkout (Stripe-Checkout-compatible) for make run.",
    )
    p.epilog = (
        f"Needs {SECRET_KEY_ENV} and {WEBHOOK_SECRET_ENV} (the desk's); listens on 127.0.0.1:"
        f"{PORT_ENV} (default {DEFAULT_PORT}); sends signed events to {WEBHOOK_URL_ENV} "
        f"(default the desk's {WEBHOOK_PATH} on WEB_PORT)."
    )
    p.add_argument("--port", help=f"overrides {PORT_ENV}")
