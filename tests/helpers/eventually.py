"""The one way the tests wait for something that happens beside them (a worker's bookkeeping,
eventually consistent visibility, an activity a timer started): poll until it holds."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


async def short_pause() -> None:
    await asyncio.sleep(0.1)


@overload
async def eventually(
    probe: Callable[[], Awaitable[T]],
    holds: Callable[[T], object] | None = None,
    *,
    seconds: float = 20,
    pause: Callable[[], Awaitable[object]] = short_pause,
) -> T: ...


@overload
async def eventually(
    probe: Callable[[], T],
    holds: Callable[[T], object] | None = None,
    *,
    seconds: float = 20,
    pause: Callable[[], Awaitable[object]] = short_pause,
) -> T: ...


async def eventually(
    probe: Callable[[], Any],
    holds: Callable[[Any], object] | None = None,
    *,
    seconds: float = 20,
    pause: Callable[[], Awaitable[object]] = short_pause,
) -> Any:
    """`probe()`'s value (awaited if need be) once `holds(value)` is true, or without `holds`
    once the value is truthy; probed again after each `pause` (0.1 s) for up to `seconds`.

    Fails the test, showing the last value seen, if it never holds.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if (holds or bool)(value):
            return value
        if loop.time() >= deadline:
            raise AssertionError(f"condition never held within {seconds} s; last seen: {value!r}")
        await pause()
