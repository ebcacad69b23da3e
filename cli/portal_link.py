"""`python starter.py portal-link LOAN_ID`: a fresh signed link to the borrower's page of the
loan's open case (docs/portal.md), printed as one absolute URL; valid for the case's policy's
`[portal] link_days`. Refuses an unknown loan or a closed case before making anything."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from sqlmodel import col, select

from activities.failures import policy_named
from activities.portal_links import LinkKeys, make_link, open_case_of_loan
from activities.store import Store
from cli.arguments import ClientFactory, CommandSet
from cli.console import EXIT_OK, UsageError, out
from migrations.tables import CaseRow


def portal_link(store: Store, keys: LinkKeys, loan_id: str, now: datetime) -> str:
    case = open_case_of_loan(store, loan_id)
    if case is None:
        with store.reading() as session:
            known = session.exec(select(CaseRow).where(col(CaseRow.loan_id) == loan_id)).first()
        if known is None:
            raise UsageError(f"LOAN_ID: no case for loan {loan_id} in the case database")
        raise UsageError(f"LOAN_ID: the case of loan {loan_id} is closed; no link is made for it")
    return make_link(store, keys, case, at=now, days=policy_named(case.policy).portal_link_days)


async def cmd_portal_link(args: argparse.Namespace, connect: ClientFactory) -> int:
    store = Store.from_env()
    try:
        store.require_current_schema()
        # PORTAL_SECRET malformed or PORTAL_BASE_URL not http(s): a UsageError naming it (exit 2)
        keys = LinkKeys.from_env(store)
        out(portal_link(store, keys, args.loan_id, datetime.now(UTC)))
    finally:
        store.dispose()
    return EXIT_OK


def register(commands: CommandSet) -> None:
    p = commands.add(
        "portal-link", cmd_portal_link, "Print a fresh signed link to a borrower's portal page."
    )
    p.add_argument("loan_id", metavar="LOAN_ID")
