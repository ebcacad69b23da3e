"""Configuration from the environment; every default suits `make run` on one machine."""

from __future__ import annotations

import os
from pathlib import Path

from temporalio.client import Client
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime

from runtime import encryption, payloads, tracing

# The checkout: this file is runtime/settings.py.
PROJECT_DIR = Path(__file__).resolve().parent.parent
TASK_QUEUE_DEFAULT = "collections"


class UsageError(Exception):
    """Bad command-line input or configuration, detected before anything was sent: a command
    exits with code 2 (`cli.main`). Here rather than in `cli` so that the servers of `web`
    check their settings with the same error."""


# How `make run` and `make bench` start the Temporal dev server.
# - The new matcher honours task-queue priorities (a first contact ahead of routine work).
# - The server fires no timer sooner than a "max time shift" after the moment it was created
#   (1 s by default), so a timer shorter than that, which `demo` cases with their two-second
#   days set all the time, fired up to a second late; 100 ms keeps demo days two seconds long.
# - When the server's timer queue falls behind it stops reading due timers for a "poll
#   backoff" (5 s by default): under a storm of cases, timers due in that pause all fired
#   5-11 s late together. 200 ms keeps the pause shorter than a timer may be late.
# - SQLite in WAL mode lets the server read while it writes: in its default rollback-journal
#   mode every read waits out the writer, and under a storm of cases that doubles the time a
#   workflow takes. `synchronous=full` keeps every committed transaction across a power cut.
# Temporal's limits that keep one sender from breaking a case (see the README's "Reliability";
# a real cluster sets the same values in its dynamic config):
# - no payload above 128 KB: a signal of 1.9 MB is refused at the door (the system's own
#   payloads are far smaller), so a case's history grows slowly enough to continue as new;
# - continue-as-new suggested at 1 MB of history (default 4 MB): a case flooded with large
#   signals hands over while its history is still quick to replay;
# - up to 1,000 signals may wait while a workflow task runs (default 100; their size stays
#   capped at 2 MB): beyond it the server fails the task, and a flood of small signals then
#   keeps a case from ever completing one.
DEV_SERVER_LIMITS = (
    "--dynamic-config-value",
    "limit.blobSize.error=131072",
    "--dynamic-config-value",
    "limit.blobSize.warn=65536",
    "--dynamic-config-value",
    "limit.historySize.suggestContinueAsNew=1048576",
    "--dynamic-config-value",
    "history.maximumBufferedEventsBatch=1000",
)
DEV_SERVER_ARGS = (
    *DEV_SERVER_LIMITS,
    "--dynamic-config-value",
    "matching.useNewMatcher=true",
    "--dynamic-config-value",
    'history.timerProcessorMaxTimeShift="100ms"',
    "--dynamic-config-value",
    'history.timerProcessorPollBackoffInterval="200ms"',
    "--sqlite-pragma",
    "journal_mode=wal",
    "--sqlite-pragma",
    "synchronous=full",
)


def whole_number(variable: str, default: int) -> int:
    """A positive whole number from the environment; a bad value names the variable."""
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{variable}: must be a whole number of at least 1, not {raw!r}")
    return int(raw)


def var_dir() -> Path:
    return Path(os.environ.get("COLLECTIONS_VAR_DIR", PROJECT_DIR / "var"))


def task_queue() -> str:
    return os.environ.get("COLLECTIONS_TASK_QUEUE", TASK_QUEUE_DEFAULT)


def database_url() -> str:
    """SQLAlchemy URL; SQLite under `var/` unless `DATABASE_URL` says otherwise."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{var_dir() / 'collections.db'}"


ROUTING_ENV = "COLLECTIONS_ROUTING"


def routing_path() -> Path:
    """The routing file that picks a new case's policy (`policies.load_routing`); a relative
    path is taken from the current directory, the default from the checkout."""
    named = os.environ.get(ROUTING_ENV, "").strip()
    return Path(named) if named else PROJECT_DIR / "policies" / "routing.toml"


UNIT_COSTS_ENV = "COLLECTIONS_UNIT_COSTS"


def unit_costs_path() -> Path:
    """The contacts' unit costs file (`policies.unit_costs.load_unit_costs`); a relative path
    is taken from the current directory, the default from the checkout."""
    named = os.environ.get(UNIT_COSTS_ENV, "").strip()
    return Path(named) if named else PROJECT_DIR / "policies" / "unit_costs.toml"


def evidence_dir() -> Path:
    return Path(os.environ.get("COLLECTIONS_EVIDENCE_DIR", var_dir() / "evidence"))


async def connect_client(runtime: Runtime | None = None) -> Client:
    """Connect as the envconfig profile / TEMPORAL_* variables say (default localhost:7233),
    encrypting payloads when `COLLECTIONS_ENCRYPTION_KEYS` is set.

    `runtime` carries the SDK's telemetry (the worker's metrics); None is the SDK's default.
    With tracing on (`runtime.tracing`), the client traces its calls, and so does a worker on it.
    """
    config = ClientConfig.load_client_connect_config()
    config.setdefault("target_host", "localhost:7233")
    return await Client.connect(
        **config,
        data_converter=encryption.converter_from_env(payloads.case_converter()),
        runtime=runtime,
        interceptors=tracing.client_interceptors(),
    )


PORTAL_SECRET_ENV = "PORTAL_SECRET"
PORTAL_BASE_URL_ENV = "PORTAL_BASE_URL"
# The desk's own address under `make run`: the portal is served by the same application.
PORTAL_BASE_URL_DEFAULT = "http://127.0.0.1:8000"
PORTAL_SECRET_MIN = 32


def portal_secret() -> str | None:
    """Signs the borrower's links and keys the one-time codes' hashes; None when unset, and then
    the case database keeps one (`activities.portal_links`): a secret made at each start would
    break every link already sent, and differ between the worker that writes a link and the desk
    that opens it."""
    secret = os.environ.get(PORTAL_SECRET_ENV, "").strip()
    if not secret:
        return None
    if len(secret) < PORTAL_SECRET_MIN:
        raise UsageError(f"{PORTAL_SECRET_ENV}: at least {PORTAL_SECRET_MIN} characters")
    return secret


def portal_base_url() -> str:
    """Where borrowers open their links: the portal's public address, no trailing slash."""
    url = os.environ.get(PORTAL_BASE_URL_ENV, "").strip() or PORTAL_BASE_URL_DEFAULT
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"{PORTAL_BASE_URL_ENV}: {url!r} is not an http(s) address")
    return url.rstrip("/")
