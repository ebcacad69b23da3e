"""Holds, call backs and what came of the case's work: `hold`, `release`, `callback`,
`outcome` (a call), `visit` and `legal`. Each message is read by the case's own parser before
it is sent."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from cli.arguments import ClientFactory, Command, CommandSet
from cli.updates import add_source, add_timeout, send_checked, with_source
from domain.callbacks import parse_callback
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
    arg = with_source(
        {"hold_id": args.hold_id, "kind": args.kind, "reason": args.reason}, args.source
    )
    return await send_checked(
        args, connect, "hold", "place_hold", lambda: _checked(arg, parse_hold)
    )


async def cmd_release(args: argparse.Namespace, connect: ClientFactory) -> int:
    arg = with_source({"hold_id": args.hold_id}, args.source)
    return await send_checked(
        args, connect, "hold release", "release_hold", lambda: _checked(arg, parse_hold_release)
    )


async def cmd_callback(args: argparse.Namespace, connect: ClientFactory) -> int:
    arg = with_source({"request_id": args.request_id, "at": args.at}, args.source)
    return await send_checked(
        args, connect, "call back", "request_callback", lambda: _checked(arg, parse_callback)
    )


def _recording(
    what: str, update: str, id_key: str, value_key: str, parse: Callable[[dict[str, Any]], object]
) -> Command:
    """The command that sends `update` with the id and the value from their flags (and the
    note and the source, if given)."""

    async def command(args: argparse.Namespace, connect: ClientFactory) -> int:
        arg = {id_key: getattr(args, id_key), value_key: getattr(args, value_key)}
        noted = with_source(_with_note(arg, args.note), args.source)
        return await send_checked(args, connect, what, update, lambda: _checked(noted, parse))

    return command


def _add_recorded(
    commands: CommandSet,
    name: str,
    handler: Command,
    help_text: str,
    flags: tuple[str, str],
    choices: Sequence[str],
) -> None:
    """A command that records one id'd value from a fixed list, with an optional note and
    source."""
    p = commands.add(name, handler, help_text)
    p.add_argument("loan_id", metavar="LOAN_ID")
    id_flag, value_flag = flags
    p.add_argument(id_flag, required=True)
    p.add_argument(value_flag, required=True, choices=choices)
    p.add_argument("--note")
    add_source(p)
    add_timeout(p)


def _add_callback(commands: CommandSet) -> None:
    p = commands.add(
        "callback",
        cmd_callback,
        "Ask for a call back at a moment (request_callback): a call task due then.",
    )
    p.add_argument("loan_id", metavar="LOAN_ID")
    p.add_argument("--request-id", required=True)
    p.add_argument(
        "--at", required=True, help="the moment with its UTC offset, e.g. 2026-12-05T14:00+08:00"
    )
    add_source(p)
    add_timeout(p)


def register(commands: CommandSet) -> None:
    p = commands.add(
        "hold", cmd_hold, "Place a hold (dispute, cease_contact, ...): collection pauses."
    )
    p.add_argument("loan_id", metavar="LOAN_ID")
    p.add_argument("--hold-id", required=True)
    p.add_argument("--kind", required=True, choices=HOLD_KINDS)
    p.add_argument("--reason", required=True)
    add_source(p)
    add_timeout(p)

    p = commands.add("release", cmd_release, "Release a hold.")
    p.add_argument("loan_id", metavar="LOAN_ID")
    p.add_argument("--hold-id", required=True)
    add_source(p)
    add_timeout(p)

    _add_callback(commands)
    _add_recorded(
        commands,
        "outcome",
        _recording(
            "contact outcome",
            "record_contact_outcome",
            "attempt_id",
            "outcome",
            parse_contact_outcome,
        ),
        "Record a call's outcome (record_contact_outcome).",
        ("--attempt-id", "--outcome"),
        CONTACT_OUTCOMES,
    )
    _add_recorded(
        commands,
        "visit",
        _recording(
            "visit outcome", "record_visit_outcome", "visit_id", "outcome", parse_visit_outcome
        ),
        "Record a field visit's outcome (record_visit_outcome).",
        ("--visit-id", "--outcome"),
        VISIT_OUTCOMES,
    )
    _add_recorded(
        commands,
        "legal",
        _recording("legal event", "record_legal_event", "event_id", "event", parse_legal_event),
        "Record a legal event (record_legal_event).",
        ("--event-id", "--event"),
        LEGAL_EVENTS,
    )
