"""`desk-user`: the people who may sign in to the desk (the case database's desk_users).

    starter.py desk-user add NAME --role agent|field|supervisor [--buckets M1,M2] < password
    starter.py desk-user add NAME --reset                 (a new password, read the same way)
    starter.py desk-user list
    starter.py desk-user disable NAME

The password is read from stdin, one line (from a terminal without echo), never from the
command line, where `ps` and the shell's history would keep it. Nothing prints a hash.
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from datetime import UTC, datetime

from activities.store import Store
from cli.arguments import ClientFactory, CommandSet
from cli.console import EXIT_ERROR, EXIT_OK, UsageError, failed, out
from domain.clock import BUCKETS
from migrations import SchemaNotCurrent
from migrations.desk_tables import USER_NAME_MAX
from web.desk_store import ROLES, DeskStore
from web.passwords import PasswordRefused, hash_password

USER_NAME = re.compile(rf"[a-z0-9][a-z0-9._@-]{{0,{USER_NAME_MAX - 1}}}")
USAGE = (
    "add NAME --role agent|field|supervisor [--buckets M1,M2] (password on stdin); "
    "add NAME --reset (a new password on stdin); list; disable NAME"
)


def read_password() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("password: ")
    return sys.stdin.readline().rstrip("\r\n")


def _name(text: str) -> str:
    if not USER_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(
            "lower-case letters, digits and . _ @ -, starting with a letter or digit, "
            f"at most {USER_NAME_MAX} characters"
        )
    return text


def _buckets(text: str) -> str:
    parts = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [part for part in parts if part not in BUCKETS]
    if unknown:
        raise argparse.ArgumentTypeError(f"not buckets: {', '.join(unknown)} ({'/'.join(BUCKETS)})")
    return ",".join(parts)


def _open_desk() -> tuple[Store, DeskStore]:
    store = Store.from_env()
    try:
        store.require_current_schema()
    except SchemaNotCurrent:
        store.dispose()
        raise
    return store, DeskStore(store)


def _new_hash() -> str:
    try:
        return hash_password(read_password())
    except PasswordRefused as error:
        raise UsageError(str(error)) from None


async def cmd_add(args: argparse.Namespace, connect: ClientFactory) -> int:
    if not args.reset and args.role is None:
        raise UsageError("--role: required for a new user (agent, field or supervisor)")
    password_hash = _new_hash()
    now = datetime.now(UTC)
    store, desk = _open_desk()
    try:
        if args.reset:
            if not desk.set_password(args.name, password_hash, at=now):
                return failed(f"{args.name}: no such desk user", EXIT_ERROR)
            desk.update_user(args.name, at=now, role=args.role, buckets=args.buckets)
            out(f"{args.name}: new password set")
            return EXIT_OK
        added = desk.add_user(
            args.name,
            role=args.role,
            password_hash=password_hash,
            buckets=args.buckets or "",
            at=now,
        )
        if not added:
            return failed(f"{args.name}: exists already (--reset sets a new password)", EXIT_ERROR)
        out(f"{args.name}: added ({args.role})")
        return EXIT_OK
    finally:
        store.dispose()


async def cmd_list(args: argparse.Namespace, connect: ClientFactory) -> int:
    store, desk = _open_desk()
    try:
        users = desk.users()
    finally:
        store.dispose()
    out(f"{'user':<24} {'role':<11} {'buckets':<16} {'state':<9} password")
    for user in users:
        state = "active" if user.active else "disabled"
        password = "set" if user.password_hash else "sso only"
        buckets = user.buckets or "all"
        out(f"{user.user_name:<24} {user.role:<11} {buckets:<16} {state:<9} {password}")
    return EXIT_OK


async def cmd_disable(args: argparse.Namespace, connect: ClientFactory) -> int:
    store, desk = _open_desk()
    try:
        if not desk.disable_user(args.name, at=datetime.now(UTC)):
            return failed(f"{args.name}: no such desk user", EXIT_ERROR)
    finally:
        store.dispose()
    out(f"{args.name}: disabled; their sessions have ended")
    return EXIT_OK


def register(commands: CommandSet) -> None:
    parser = commands.add("desk-user", cmd_list, "The desk's users (DATABASE_URL): " + USAGE + ".")
    actions = parser.add_subparsers(dest="desk_action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add a user, or --reset one's password (from stdin)")
    add.add_argument("name", metavar="NAME", type=_name)
    add.add_argument("--role", choices=ROLES, help="what the user works: their pages")
    add.add_argument("--buckets", type=_buckets, help="the buckets their team works (M1,M2)")
    add.add_argument("--reset", action="store_true", help="set a new password of a user")
    add.set_defaults(handler=cmd_add)
    listing = actions.add_parser("list", help="every user: role, buckets, state (no hash)")
    listing.set_defaults(handler=cmd_list)
    disable = actions.add_parser("disable", help="stop a user signing in; end their sessions")
    disable.add_argument("name", metavar="NAME")
    disable.set_defaults(handler=cmd_disable)
