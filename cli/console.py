"""What a command prints and how it ends: output lines, exit statuses, usage errors."""

from __future__ import annotations

import sys

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_BAD_INPUT = 2


class UsageError(Exception):
    """Bad command-line input detected before anything was sent: exit code 2."""


def out(text: str = "") -> None:
    print(text, flush=True)


def err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
