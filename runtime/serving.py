"""Serving an ASGI application with uvicorn: the one way the webhooks and the codec server
listen, in the foreground for a command and on a thread for tests.

The socket is bound and listening before uvicorn starts, so that a bad address fails at once
with the operating system's reason, a port of 0 is known before the first request, and a
client that connects right after the banner is queued rather than refused.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass
from typing import Any

import uvicorn

# Connections waiting to be accepted: a burst of callbacks is answered, not dropped.
BACKLOG = 128
# Requests in flight get this long to finish on SIGTERM or `stop()`; then they are cut.
GRACEFUL_SHUTDOWN_SECONDS = 5


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to `host`:`port` (0: any free port) and listening; raises `OSError`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=BACKLOG)


def uvicorn_server(app: Any, *, http: type[asyncio.Protocol] | str = "h11") -> uvicorn.Server:
    """A uvicorn server for `app` that keeps to the project's logging: no access log (the routes
    log what matters, and a request line can carry a borrower's number in its query), no
    `Server:` header, and uvicorn's own messages from warnings up."""
    config = uvicorn.Config(
        app,
        http=http,
        ws="none",
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    return uvicorn.Server(config)


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


async def serve_until_stopped(server: uvicorn.Server, sock: socket.socket) -> None:
    """Serve on `sock` until SIGTERM or SIGINT, then finish the requests in flight.

    Run from the main thread (a command's `asyncio.run`): uvicorn then catches both signals
    itself and, once shut down, raises the signal again so the process ends as signalled."""
    await server.serve(sockets=[sock])


@dataclass
class Served:
    """A server running on a thread of its own (tests); `stop()` shuts it down cleanly."""

    server: uvicorn.Server
    thread: threading.Thread
    url: str

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join()


def serve_in_thread(
    app: Any, host: str, port: int, *, http: type[asyncio.Protocol] | str = "h11", name: str
) -> Served:
    """Bind (raising `OSError` at once) and serve on a daemon thread with its own event loop."""
    sock = listening_socket(host, port)
    server = uvicorn_server(app, http=http)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    return Served(server, thread, url_of(sock))
