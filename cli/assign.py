"""`assign`: make a desk user responsible for a case (the `assign_collector` update), for an
operator or a supervisor's script reassigning a case. Checked by the case's own parser before
anything is sent; whether the user exists is the desk's to know, not the case's."""

from __future__ import annotations

import argparse
import uuid
from typing import Any

from cli.arguments import ClientFactory, CommandSet
from cli.console import err
from cli.updates import add_timeout, send_checked
from domain.assignment import parse_assignment

# Who made the assignment when the command is not told (`--by`).
DEFAULT_SOURCE = "cli"


def assignment_message(message_id: str, user_name: str, source: str) -> dict[str, Any]:
    """The `assign_collector` argument, checked as the case reads it (raises `InvalidInput`)."""
    arg = {"message_id": message_id, "user_name": user_name, "source": source}
    parse_assignment(arg)
    return arg


async def cmd_assign(args: argparse.Namespace, connect: ClientFactory) -> int:
    # Only a missing id is made up (and said, so a retry can reuse it); an empty one is
    # refused by the case's parser like any id it would refuse.
    if args.message_id is None:
        args.message_id = str(uuid.uuid4())
        err(f"message id {args.message_id} (retry with --message-id {args.message_id})")
    return await send_checked(
        args,
        connect,
        "assignment",
        "assign_collector",
        lambda: assignment_message(args.message_id, args.to, args.by),
    )


def register(commands: CommandSet) -> None:
    p = commands.add(
        "assign",
        cmd_assign,
        "Make a desk user responsible for a case (assign_collector update).",
    )
    p.epilog = (
        "The case rejects with InvalidAssignment (exit 2) a closed case or a malformed user "
        "name. The same --message-id again answers as the first time and changes nothing."
    )
    p.add_argument("loan_id", metavar="LOAN_ID")
    p.add_argument("--to", required=True, metavar="USER", help="the desk user's name")
    p.add_argument(
        "--by", default=DEFAULT_SOURCE, metavar="NAME", help="who assigns (default: cli)"
    )
    p.add_argument("--message-id", help="idempotency key; default: a new uuid (printed)")
    add_timeout(p)
