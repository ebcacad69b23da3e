"""What every command module shares to register its sub-command: the registry it adds itself
to, the shape of a command function, and the argument types that check numbers.

Each command module has a `register(commands: CommandSet) -> None` that adds its sub-parsers
with `commands.add(...)`; `cli.main` calls them in order and dispatches to the handler chosen.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from temporalio.client import Client

from domain.policy import Policy

ClientFactory = Callable[[], Awaitable[Client]]
Command = Callable[[argparse.Namespace, ClientFactory], Awaitable[int]]


@dataclass(frozen=True)
class CommandSet:
    """The sub-commands being built. `policy` is the policy a case gets when none is named:
    help texts quote its figures rather than repeating them."""

    parsers: argparse._SubParsersAction[argparse.ArgumentParser]
    policy: Policy

    def add(self, name: str, handler: Command, help_text: str) -> argparse.ArgumentParser:
        sub = self.parsers.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def positive_int(text: str) -> int:
    value = _whole_number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def non_negative_int(text: str) -> int:
    value = _whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("must be a number of seconds greater than 0")
    return value
