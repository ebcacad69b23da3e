"""What a command prints and how it ends: output lines, exit statuses, usage errors.

A reader that stops early (`starter.py status L-1 | head -1`) closes the pipe: the command
then stops quietly with exit 0 (`OutputClosed`), as `head`'s other writers do, instead of
a BrokenPipeError traceback.
"""

from __future__ import annotations

import os
import sys
from contextlib import suppress

# One class for the commands and the servers' settings (`web`), which cannot import `cli`.
from runtime.settings import UsageError as UsageError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_BAD_INPUT = 2


class OutputClosed(Exception):
    """Whoever read the command's output has stopped reading: nothing more is worth doing."""


def out(text: str = "") -> None:
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # Later writes, and the final flush, go nowhere instead of failing again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        raise OutputClosed from None


def err(text: str) -> None:
    with suppress(BrokenPipeError):
        print(text, file=sys.stderr, flush=True)


def failed(text: str, exit_code: int) -> int:
    """Say on stderr why a command failed; its exit code."""
    err(text)
    return exit_code
