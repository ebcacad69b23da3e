"""The client's side of a case's contract: updates (answered or rejected), signals and the
`status` query, for every program that talks to cases (the command line, the desk).

A message that meets a case handing over to its next run is sent again until a deadline: every
message id is its idempotency key, so a resend is answered as the first one was.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from runtime import settings


def workflow_id(loan_id: str) -> str:
    """A case's workflow id: one open case per loan."""
    return f"collection-{loan_id}"


# How long a command waits for an update or query answer (a worker must be running).
ANSWER_TIMEOUT_SECONDS = 30.0
# How long the diagnosis after a timeout may take: a server that is itself the problem
# must not keep the operator waiting a second full timeout.
DIAGNOSIS_TIMEOUT_SECONDS = 5.0

# Per update: what it records (for messages) and the field that is its idempotency key.
MESSAGES: dict[str, tuple[str, str]] = {
    "record_payment": ("payment", "payment_id"),
    "promise_to_pay": ("promise", "promise_id"),
    "propose_plan": ("plan", "plan_id"),
    "record_contact_outcome": ("contact outcome", "attempt_id"),
    "record_visit_outcome": ("visit outcome", "visit_id"),
    "record_legal_event": ("legal event", "event_id"),
    "agree_settlement": ("settlement", "settlement_id"),
    "place_hold": ("hold", "hold_id"),
    "release_hold": ("hold release", "hold_id"),
    "adjust_balance": ("adjustment", "adjustment_id"),
    "assign_collector": ("assignment", "message_id"),
    "request_callback": ("call back", "request_id"),
}


# Answers that mean "send it again": a case handing over to its next run (continue-as-new)
# refuses signals meanwhile ("workflow is closing", RESOURCE_EXHAUSTED), aborts the updates in
# flight (UNAVAILABLE) and answers none while its hand-over is retried ("Workflow Task in failed
# state"), and the server holds at most 10 updates in flight per case (RESOURCE_EXHAUSTED).
# A run that has taken Temporal's 10,000 signals refuses more (INVALID_ARGUMENT) until it has
# handed over, which a flood faster than the case can write its records may bring about before
# the case's own mark. Sending again is safe: the message id is the idempotency key.
RESEND_STATUSES = (RPCStatusCode.UNAVAILABLE, RPCStatusCode.RESOURCE_EXHAUSTED)
NOT_READY = "WorkflowNotReadyFailure"
SIGNAL_LIMIT_REACHED = "limit for signal events"
T = TypeVar("T")
RESEND_FIRST_PAUSE = 0.2
RESEND_MAX_PAUSE = 3.0


def _worth_resending(error: RPCError) -> bool:
    if error.status in RESEND_STATUSES:
        return True
    if error.status == RPCStatusCode.INVALID_ARGUMENT:
        return SIGNAL_LIMIT_REACHED in error.message
    details = error.grpc_status.details if error.status == RPCStatusCode.FAILED_PRECONDITION else []
    return any(detail.type_url.endswith(NOT_READY) for detail in details)


async def resending(send: Callable[[float], Awaitable[T]], *, timeout: float) -> T:
    """`send(seconds_left)`, and again while the case answers that it cannot take the message
    yet, until `timeout` seconds have passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pause = RESEND_FIRST_PAUSE
    while True:
        try:
            return await send(max(deadline - loop.time(), 0.1))
        except RPCError as error:
            if not _worth_resending(error) or loop.time() + pause >= deadline:
                raise
        except RPCTimeoutOrCancelledError:
            # An update not yet answered when its run handed over.
            if loop.time() + pause >= deadline:
                raise
        # Spread out, so that senders waiting for the same hand-over do not all come back
        # together in the middle of it (a message arriving then makes it start over).
        await asyncio.sleep(pause * random.uniform(0.5, 1.5))
        pause = min(pause * 2, RESEND_MAX_PAUSE)


async def send_update(
    handle: WorkflowHandle[Any, Any],
    update: str,
    arg: Any,
    *,
    timeout: float = ANSWER_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """Send one update and wait for its answer, resending it through a hand-over."""

    async def send(seconds_left: float) -> dict[str, Any]:
        answer = await handle.execute_update(
            update, arg, result_type=dict, rpc_timeout=timedelta(seconds=seconds_left)
        )
        return dict(answer)

    return await resending(send, timeout=timeout)


async def send_signal(
    handle: WorkflowHandle[Any, Any],
    signal: str,
    arg: Any,
    *,
    timeout: float = ANSWER_TIMEOUT_SECONDS,
) -> None:
    """Send one signal (`payment_received`, `plan_received`, ...), resending it while the case
    hands over to its next run ("workflow is closing")."""

    async def send(seconds_left: float) -> None:
        await handle.signal(signal, arg, rpc_timeout=timedelta(seconds=seconds_left))

    await resending(send, timeout=timeout)


class CaseNotFound(Exception):
    """No case for the loan, or the case is closed and no longer takes updates."""


class CaseClosed(CaseNotFound):
    """The case's workflow has completed (after its linger): it takes no more messages."""


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
    time did (payments say `duplicate`) and changes nothing. Raises `TimeoutError` when no
    answer comes within `timeout` seconds, `CaseClosed` / `CaseNotFound`, or
    `WorkflowUpdateFailedError` for a rejection.
    """
    handle = client.get_workflow_handle(workflow_id(loan_id))
    try:
        answer = await _within(send_update(handle, update, arg, timeout=timeout), timeout)
    except RPCTimeoutOrCancelledError:
        # The SDK's own form of our RPC deadline passing while the update waits.
        raise TimeoutError(f"{loan_id}: no answer within {timeout:g} s") from None
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise await _not_open(client, loan_id, error) from None
        raise _answer_error(error, loan_id, "no open case", timeout) from None
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
    except RPCTimeoutOrCancelledError:
        raise TimeoutError(f"{loan_id}: no answer within {timeout:g} s") from None
    except RPCError as error:
        raise _answer_error(error, loan_id, "no case", timeout) from None
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
        raise TimeoutError(f"no answer within {seconds:g} s")
    return task.result()


def _answer_error(error: RPCError, loan_id: str, not_found: str, timeout: float) -> Exception:
    """A missing case, a timeout (our deadline cancels the call), or the RPC error itself."""
    if error.status == RPCStatusCode.NOT_FOUND:
        return CaseNotFound(f"{loan_id}: {not_found} ({error.message})")
    if error.status in (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED):
        return TimeoutError(f"{loan_id}: no answer within {timeout:g} s")
    return error


async def _not_open(client: Client, loan_id: str, error: RPCError) -> CaseNotFound:
    """Why an update found no running case: closed for good, or never opened.

    The server answers NOT_FOUND both ways; describing the workflow tells them apart
    without depending on the wording of its message.
    """
    wf_id = workflow_id(loan_id)
    try:
        description = await _within(
            client.get_workflow_handle(wf_id).describe(), DIAGNOSIS_TIMEOUT_SECONDS
        )
    except (RPCError, TimeoutError):
        return CaseNotFound(f"{loan_id}: no open case {wf_id} ({error.message})")
    state = description.status
    if state is None or state == WorkflowExecutionStatus.RUNNING:
        return CaseNotFound(f"{loan_id}: no open case {wf_id} ({error.message})")
    return CaseClosed(
        f"{loan_id}: case {wf_id} is closed ({state.name.lower()}) and no longer takes "
        "messages: a closed case stays reachable for its policy's linger period, which "
        "has ended (see `starter.py status` for how it ended)"
    )


async def pollers_of(client: Client, task_queue: str) -> int:
    """How many workers have recently polled `task_queue` for workflow tasks."""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return len(response.pollers)


async def explain_no_answer(client: Client, loan_id: str, timeout: float) -> tuple[bool, str]:
    """(a worker polls the case's task queue, a sentence saying so) after a timeout.

    The case's own task queue comes from the server (it may differ from this command's
    `COLLECTIONS_TASK_QUEUE`); without an answer the configured one is assumed.
    """
    task_queue = settings.task_queue()
    try:
        description = await _within(
            client.get_workflow_handle(workflow_id(loan_id)).describe(),
            DIAGNOSIS_TIMEOUT_SECONDS,
        )
        task_queue = description.task_queue or task_queue
        pollers = await _within(pollers_of(client, task_queue), DIAGNOSIS_TIMEOUT_SECONDS)
    except (RPCError, TimeoutError) as error:
        return True, (
            f"{loan_id}: the case did not answer within {timeout:g} s "
            f"(could not check for workers on task queue {task_queue}: {error or 'no answer'})"
        )
    if pollers == 0:
        return False, (
            f"{loan_id}: no answer within {timeout:g} s: no worker is polling task queue "
            f"{task_queue}: start one with `make worker`"
        )
    return True, f"{loan_id}: the case did not answer within {timeout:g} s"


def rejection(error: WorkflowUpdateFailedError) -> tuple[str, str]:
    """(type, message) of a business rejection."""
    cause = error.cause
    if isinstance(cause, ApplicationError):
        return cause.type or "Rejected", cause.message
    return type(cause).__name__, str(cause)
