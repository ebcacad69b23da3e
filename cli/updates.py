"""Messages to a running case: updates (answered or rejected) and the `status` query."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from cli.cases import workflow_id
from cli.console import EXIT_BAD_INPUT, EXIT_ERROR, EXIT_OK, err, out

# How long a command waits for an update or query answer (a worker must be running).
ANSWER_TIMEOUT_SECONDS = 30.0


class CaseNotFound(Exception):
    """No case for the loan, or the case is closed and no longer takes updates."""


async def call_update(
    client: Client,
    loan_id: str,
    update: str,
    arg: dict[str, Any],
    *,
    timeout: float = ANSWER_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """Send one update and wait for its answer.

    The case de-duplicates by the message id inside `arg`: a resend answers as the first
    time did (payments say `duplicate`) and changes nothing.
    """
    handle = client.get_workflow_handle(workflow_id(loan_id))
    try:
        answer = await _within(
            handle.execute_update(
                update,
                arg,
                result_type=dict,
                rpc_timeout=timedelta(seconds=timeout),
            ),
            timeout,
        )
    except RPCError as error:
        raise _answer_error(error, loan_id, "no open case") from None
    return dict(answer)


async def query_status(
    client: Client, loan_id: str, *, timeout: float = ANSWER_TIMEOUT_SECONDS
) -> dict[str, Any]:
    handle = client.get_workflow_handle(workflow_id(loan_id))
    try:
        answer = await _within(
            handle.query("status", result_type=dict, rpc_timeout=timedelta(seconds=timeout)),
            timeout,
        )
    except RPCError as error:
        raise _answer_error(error, loan_id, "no case") from None
    return dict(answer)


async def _within(call: Awaitable[Any], seconds: float) -> Any:
    """`call`'s result, or `TimeoutError` after `seconds` (plus a little grace for the RPC
    deadline to answer first). Unlike `asyncio.wait_for` this does not wait for the
    abandoned call to acknowledge its cancellation, which an RPC in flight may not do."""
    task = asyncio.ensure_future(call)
    done, _ = await asyncio.wait({task}, timeout=seconds + 2)
    if not done:
        task.cancel()
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        raise TimeoutError()
    return task.result()


def _answer_error(error: RPCError, loan_id: str, not_found: str) -> Exception:
    """A missing case, a timeout (our deadline cancels the call), or the RPC error itself."""
    if error.status == RPCStatusCode.NOT_FOUND:
        return CaseNotFound(f"{loan_id}: {not_found} ({error.message})")
    if error.status in (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED):
        return TimeoutError(f"{loan_id}: no answer in time")
    return error


def rejection(error: WorkflowUpdateFailedError) -> tuple[str, str]:
    """(type, message) of a business rejection."""
    cause = error.cause
    if isinstance(cause, ApplicationError):
        return cause.type or "Rejected", cause.message
    return type(cause).__name__, str(cause)


async def run_update(client: Client, loan_id: str, update: str, arg: dict[str, Any]) -> int:
    """Send an update, print its answer (exit 0) or its rejection (exit 2)."""
    try:
        answer = await call_update(client, loan_id, update, arg)
    except WorkflowUpdateFailedError as error:
        kind, message = rejection(error)
        err(f"rejected ({kind}): {message}")
        return EXIT_BAD_INPUT
    except CaseNotFound as error:
        err(str(error))
        return EXIT_ERROR
    out(json.dumps(answer, ensure_ascii=False))
    return EXIT_OK
