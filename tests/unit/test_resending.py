"""Which answers from the server make a sender send the same message again, and for how long.

The server's own errors, built as the SDK raises them; the hand-overs they stand for are
exercised on the real dev server in tests/test_flood.py.
"""

from __future__ import annotations

import asyncio

import pytest
from temporalio.service import RPCError, RPCStatusCode

from caseclient.messages import resending

SIGNAL_LIMIT = RPCError(
    "exceeded workflow execution limit for signal events", RPCStatusCode.INVALID_ARGUMENT, b""
)
BAD_ARGUMENT = RPCError("invalid WorkflowId", RPCStatusCode.INVALID_ARGUMENT, b"")
CLOSING = RPCError("workflow is closing", RPCStatusCode.RESOURCE_EXHAUSTED, b"")


def refusing(*errors: RPCError) -> tuple[list[float], object]:
    """A send that raises `errors` one after the other, then answers "taken"."""
    calls: list[float] = []
    pending = list(errors)

    async def send(seconds_left: float) -> str:
        calls.append(seconds_left)
        if pending:
            raise pending.pop(0)
        return "taken"

    return calls, send


async def test_a_run_at_its_signal_limit_is_sent_to_again_until_the_next_run_takes_it() -> None:
    calls, send = refusing(SIGNAL_LIMIT, SIGNAL_LIMIT, CLOSING)
    assert await resending(send, timeout=10) == "taken"  # type: ignore[arg-type]
    assert len(calls) == 4


async def test_other_bad_arguments_are_not_sent_again() -> None:
    calls, send = refusing(BAD_ARGUMENT)
    with pytest.raises(RPCError, match="invalid WorkflowId"):
        await resending(send, timeout=10)  # type: ignore[arg-type]
    assert len(calls) == 1


async def test_resending_gives_up_when_its_time_is_over() -> None:
    calls, send = refusing(*([SIGNAL_LIMIT] * 100))
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(RPCError, match="limit for signal events"):
        await resending(send, timeout=1.0)  # type: ignore[arg-type]
    assert 1 < len(calls) < 100
    assert loop.time() - started < 3
