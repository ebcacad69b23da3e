"""Holds and what came of the case's work: `hold`, `release`, `outcome` (a call), `visit`
and `legal`. Each message is read by the case's own parser before it is sent."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from cli.arguments import ClientFactory, Command, CommandSet
from cli.updates import add_timeout, send_checked
from domain.messages import (
    CONTACT_OUTCOMES,
    HOLD_KINDS,
    LEGAL_EVENTS,
    VISIT_OUTCOMES,
    parse_contact_outcome,
    parse_hold,
    parse_hold_release,
    parse_legal_event,
    parse_visit_outcome,
)


def _checked(arg: dict[str, Any], parse: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    """`arg` once the case's own parser has read it (raises `InvalidInput`)."""
    parse(arg)
    return arg


def _with_note(arg: dict[str, Any], note: str | None) -> dict[str, Any]:
    return {**arg, "note": note} if note else arg


async def cmd_hold(args: argparse.Namespace, connect: ClientFactory) -> int:
    arg = {"hold_id": args.hold_id, "kind": args.kind, "reason": args.reason}
    return await send_checked(
        args, connect, "hold", "place_hold", lambda: _checked(arg, parse_hold)
    )


async def cmd_release(args: argparse.Namespace, connect: ClientFactory) -> int:
    arg = {"hold_id": args.hold_id}
    return await send_checked(
        args, connect, "hold release", "release_hold", lambda: _checked(arg, parse_hold_release)
    )


async def cmd_outcome(args: argparse.Namespace, connect: ClientFactory) -> int:
    arg = _with_note({"attempt_id": args.attempt_id, "outcome": args.outcome}, args.note)
    return await send_checked(
        args,
        connect,
        "contact outcome",
        "record_contact_outcome",
        lambda: _checked(arg, parse_contact_outcome),
    )


async def cmd_visit(args: argparse.Namespace, connect: ClientFactory) -> int:
    arg = _with_note({"visit_id": args.visit_id, "outcome": args.outcome}, args.note)
    return await send_checked(
        args,
        connect,
        "visit outcome",
        "record_visit_outcome",
        lambda: _checked(arg, parse_visit_outcome),
    )


async def cmd_legal(args: argparse.Namespace, connect: ClientFactory) -> int:
    arg = _with_note({"event_id": args.event_id, "event": args.event}, args.note)
    return await send_checked(
        args,
        connect,
        "legal event",
        "record_legal_event",
        lambda: _checked(arg, parse_legal_event),
    )


def _add_recorded(
    commands: CommandSet,
    name: str,
    handler: Command,
    help_text: str,
    id_flag: str,
    value_flag: str,
    choices: Sequence[str],
) -> None:
    """A command that records one id'd value from a fixed list, with an optional note."""
    p = commands.add(name, handler, help_text)
    p.add_argument("loan_id", metavar="LOAN_ID")
    p.add_argument(id_flag, required=True)
    p.add_argument(value_flag, required=True, choices=choices)
    p.add_argument("--note")
    add_timeout(p)


def register(commands: CommandSet) -> None:
    p = commands.add(
        "hold", cmd_hold, "Place a hold (dispute, cease_contact, ...): collection pauses."
    )
    p.add_argument("loan_id", metavar="LOAN_ID")
    p.add_argument("--hold-id", required=True)
    p.add_argument("--kind", required=True, choices=HOLD_KINDS)
    p.add_argument("--reason", required=True)
    add_timeout(p)

    p = commands.add("release", cmd_release, "Release a hold.")
    p.add_argument("loan_id", metavar="LOAN_ID")
    p.add_argument("--hold-id", required=True)
    add_timeout(p)

    _add_recorded(
        commands,
        "outcome",
        cmd_outcome,
        "Record a call's outcome (record_contact_outcome).",
        "--attempt-id",
        "--outcome",
        CONTACT_OUTCOMES,
    )
    _add_recorded(
        commands,
        "visit",
        cmd_visit,
        "Record a field visit's outcome (record_visit_outcome).",
        "--visit-id",
        "--outcome",
        VISIT_OUTCOMES,
    )
    _add_recorded(
        commands,
        "legal",
        cmd_legal,
        "Record a legal event (record_legal_event).",
        "--event-id",
        "--event",
        LEGAL_EVENTS,
    )
