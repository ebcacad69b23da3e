"""What the real-browser tests share: Debian's Chromium (or a skip, or in CI a failure), a
time zone in which the borrower's contact window is open whatever hour the test runs at, and
the desk's Temporal client for a desk served in a thread of its own."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import Client

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
# The borrower's local hour at the test's moment: well inside the `default` policy's contact
# window (08:00-21:00), with hours to spare however long the test runs.
LOCAL_HOUR = 13
PAGE_TIMEOUT_MS = 30_000
CHROMIUM_ARGS = ["--no-sandbox"]

try:
    from playwright.async_api import async_playwright
except ImportError:  # pragma: no cover - only where the dev dependencies are not installed
    async_playwright = None  # type: ignore[assignment]


def browser_or_skip() -> Path:
    """Debian's Chromium and the playwright package: in CI both must be there (the test then
    fails, naming what is missing); elsewhere the test is skipped without them."""
    missing = []
    if async_playwright is None:
        missing.append("the playwright package (make install)")
    if not CHROMIUM.exists():
        missing.append(f"Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM)")
    if missing:
        reason = "the browser test needs " + " and ".join(missing)
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


def zone_at_local_hour(now: datetime, hour: int = LOCAL_HOUR) -> ZoneInfo:
    """A fixed-offset zone (no clock changes) in which `now` falls in the hour `hour`: the
    contact window is open whatever the hour CI runs at. Etc/GMT's signs are POSIX's: Etc/GMT-5
    is five hours ahead of UTC."""
    offset = (hour - now.astimezone(UTC).hour + 12) % 24 - 12  # -12..+11, all of them zones
    return ZoneInfo("Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}")


def caching_client(address: str) -> Callable[[], Awaitable[Client]]:
    """The desk's Temporal client, connected on first use in the desk's own event loop (the
    server thread's), then kept."""
    connected: list[Client] = []

    async def client() -> Client:
        if not connected:
            connected.append(await Client.connect(address))
        return connected[0]

    return client
