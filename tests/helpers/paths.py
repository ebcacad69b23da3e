"""Where the project and its recorded histories live, for tests at any depth of tests/."""

from __future__ import annotations

from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent
# The replay test replays every history here; `make histories` adds today's beside them.
HISTORY_DIR = PROJECT_DIR / "tests" / "histories"
