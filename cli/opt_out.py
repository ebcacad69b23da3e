"""`python starter.py opt-out`: an operator records (or lifts) a borrower's opt-out of a channel.

The opt-out holds for the borrower across all of their loans, from the next contact on: that
contact is recorded as blocked (`opt_out`) instead of sent. It is recorded for the address the
borrower has on record for that channel now (a borrower with none: for any address), as every
mark belongs to its address (`activities.borrower_channels`). Lifting it removes an opt-out
only; an address the provider refused (undeliverable) stays so.
"""

from __future__ import annotations

import argparse

from activities.borrower_channels import (
    OPERATOR,
    borrower_is_known,
    channel_state,
    opt_out,
    undo_opt_out,
)
from activities.store import Store
from cli.arguments import ClientFactory, CommandSet
from cli.console import EXIT_OK, UsageError, out
from domain.channels import NOTICE_CHANNELS
from domain.fields import MESSAGE_ID_MAX, NOTE_MAX

OPT_OUT_CHANNELS = NOTICE_CHANNELS


def set_opt_out(
    store: Store, borrower_id: str, channel: str, *, undo: bool, reason: str | None
) -> int:
    """Write the operator's opt-out (or lift it) and print what changed; raises `UsageError`
    naming the field for bad input, before anything is written."""
    borrower_id = borrower_id.strip()
    if not 0 < len(borrower_id) <= MESSAGE_ID_MAX:
        raise UsageError(f"--borrower-id: must be 1 to {MESSAGE_ID_MAX} characters")
    if channel not in OPT_OUT_CHANNELS:
        raise UsageError(f"--channel: must be one of {', '.join(OPT_OUT_CHANNELS)}")
    if reason is not None and len(reason) > NOTE_MAX:
        raise UsageError(f"--reason: at most {NOTE_MAX} characters")
    if not borrower_is_known(store, borrower_id):
        raise UsageError(f"--borrower-id: no case in the database names borrower {borrower_id}")
    if undo:
        change = undo_opt_out(store, borrower_id, channel)
        if change.changed:
            out(f"{borrower_id} {channel}: opt-out lifted")
        elif change.state is None:
            out(f"{borrower_id} {channel}: not opted out; nothing changed")
        else:
            row = channel_state(store, borrower_id, channel)
            source = row.source if row is not None else "?"
            out(f"{borrower_id} {channel}: {change.state} ({source}), not opted out; left as it is")
        return EXIT_OK
    change = opt_out(store, borrower_id, channel, source=OPERATOR, reason=reason)
    if change.changed:
        out(f"{borrower_id} {channel}: opted out")
    else:
        out(f"{borrower_id} {channel}: already opted out; nothing changed")
    return EXIT_OK


async def cmd_opt_out(args: argparse.Namespace, connect: ClientFactory) -> int:
    store = Store.from_env()
    try:
        store.require_current_schema()
        return set_opt_out(
            store, args.borrower_id, args.channel, undo=args.undo, reason=args.reason
        )
    finally:
        store.dispose()


def register(commands: CommandSet) -> None:
    p = commands.add(
        "opt-out",
        cmd_opt_out,
        "Opt a borrower out of a channel (all their loans), or lift it with --undo.",
    )
    p.add_argument("--borrower-id", required=True)
    p.add_argument("--channel", required=True, choices=OPT_OUT_CHANNELS)
    p.add_argument("--undo", action="store_true", help="lift the opt-out")
    p.add_argument("--reason", help="why, for the record (e.g. the borrower's letter)")
