"""An ASGI app served over real loopback HTTP by the test's own event loop (the one its
Temporal client lives on): for code that opens its own HTTP client, such as a checkout."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from runtime.serving import listening_socket, url_of, uvicorn_server
from tests.helpers.eventually import eventually


@asynccontextmanager
async def served_here(app: FastAPI) -> AsyncIterator[str]:
    """`app` on a loopback port, served by this test's event loop; yields its URL."""
    sock = listening_socket("127.0.0.1", 0)
    server = uvicorn_server(app)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    await eventually(lambda: server.started)
    try:
        yield url_of(sock)
    finally:
        server.should_exit = True
        await task
