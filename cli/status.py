"""`status`: one case as it stands (open or closed), from the case's own `status` query."""

from __future__ import annotations

import argparse
import json

from caseclient.messages import CaseNotFound, explain_no_answer, query_status
from cli.arguments import ClientFactory, CommandSet
from cli.console import EXIT_ERROR, EXIT_OK, err, out
from cli.render import render_status
from cli.updates import add_timeout


async def cmd_status(args: argparse.Namespace, connect: ClientFactory) -> int:
    client = await connect()
    try:
        status = await query_status(client, args.loan_id, timeout=args.timeout)
    except CaseNotFound as error:
        err(str(error))
        return EXIT_ERROR
    except TimeoutError:
        # A query needs a worker too (it runs the case's code): say whether one is there.
        _, diagnosis = await explain_no_answer(client, args.loan_id, args.timeout)
        err(diagnosis)
        return EXIT_ERROR
    out(json.dumps(status, ensure_ascii=False, indent=2) if args.json else render_status(status))
    return EXIT_OK


def register(commands: CommandSet) -> None:
    p = commands.add("status", cmd_status, "Show a case (open or closed).")
    p.add_argument("loan_id", metavar="LOAN_ID")
    p.add_argument("--json", action="store_true", help="print the raw status JSON")
    add_timeout(p)
