"""Fixtures of every scope, and each test's scope marker from the folder it sits in.

The fixtures live in tests/helpers: encryption codecs (`codec`), the case database
(`blank_store`, `store`: SQLite and PostgreSQL) and the Temporal servers (time-skipping test
server, dev server) with per-test case worlds.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = [
    "tests.helpers.codecs",
    "tests.helpers.databases",
    "tests.helpers.desk",
    "tests.helpers.temporal",
]

# The folders under tests/ that hold tests, each the name of the marker its tests carry:
# `pytest -m unit` runs the unit tests only.
SCOPES = ("unit", "activities", "workflow", "e2e", "replay")
TESTS_DIR = Path(__file__).resolve().parent


def scope_of(path: Path) -> str | None:
    """The scope folder `path` sits in, if any."""
    parts = path.resolve().relative_to(TESTS_DIR).parts
    return parts[0] if len(parts) > 1 and parts[0] in SCOPES else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        scope = scope_of(item.path)
        if scope is not None:
            item.add_marker(getattr(pytest.mark, scope))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Leave pytest's own verdict where scripts/pytest.sh reads it (see there why)."""
    status_file = os.environ.get("PYTEST_STATUS_FILE")
    if status_file:
        Path(status_file).write_text(str(int(exitstatus)))
