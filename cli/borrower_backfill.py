"""Borrowers' contact details for open cases prepared before the case database kept them.

Activities read a borrower's contact details from the `borrowers` table, which `prepare_case`
fills when a case opens. A case opened by an earlier version has no row there, and its
contacts would be skipped for want of a contact detail. Its start input still holds the
details: this reads the start input of every open case (decoded by the client's data
converter, so through the payload codec when encryption is on) and records the borrower as
`prepare_case` does. Run it once when upgrading, after stopping the old workers; running it
again changes nothing, and a newer case's details are never replaced by an older one's.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from datetime import UTC

from temporalio.client import Client

from activities.store import Store
from cli.arguments import ClientFactory, CommandSet
from cli.cases import WORKFLOW_TYPE
from cli.console import EXIT_ERROR, EXIT_OK, err, out
from domain.case import parse_borrower
from domain.errors import InvalidInput

OPEN_CASES = f'WorkflowType = "{WORKFLOW_TYPE}" AND ExecutionStatus = "Running"'


@dataclass
class BackfillReport:
    recorded: int = 0
    # Workflow ids of open cases whose start input names no valid borrower.
    unreadable: list[str] = field(default_factory=list)


async def backfill_borrowers(client: Client, store: Store) -> BackfillReport:
    report = BackfillReport()
    async for execution in client.list_workflows(OPEN_CASES):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        started = await anext(handle.fetch_history_events())
        attributes = started.workflow_execution_started_event_attributes
        try:
            [case] = await client.data_converter.decode(attributes.input.payloads)
            borrower = parse_borrower(case.get("borrower") if isinstance(case, dict) else None)
        except (InvalidInput, ValueError):
            report.unreadable.append(execution.id)
            continue
        # When the case opened: the same moment `prepare_case` records, so that of two cases
        # of one borrower the later one's details stand.
        opened_at = started.event_time.ToDatetime(tzinfo=UTC).isoformat()
        store.record_borrower(borrower, at=opened_at)
        report.recorded += 1
    return report


async def cmd_backfill_borrowers(args: argparse.Namespace, connect: ClientFactory) -> int:
    store = Store.from_env()
    try:
        report = await backfill_borrowers(await connect(), store)
    finally:
        store.dispose()
    out(f"recorded the borrowers of {report.recorded} open cases")
    for workflow_id in report.unreadable:
        err(f"{workflow_id}: its start input names no valid borrower; nothing recorded")
    return EXIT_ERROR if report.unreadable else EXIT_OK


def register(commands: CommandSet) -> None:
    commands.add(
        "backfill-borrowers",
        cmd_backfill_borrowers,
        "Once, when upgrading: record the borrower of every open case opened before the case "
        "database kept contact details (read from each case's start input; safe to repeat).",
    )
