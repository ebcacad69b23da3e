"""Inputs at the edges of their bounds, and what refusing them says."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from domain.errors import InvalidInput

AMOUNT_MAX = 2**53 - 1


ID_128 = "p" * 128


def refused(parse: Callable[..., object], *args: Any, **kwargs: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse(*args, **kwargs)
    return caught.value


def payment(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"payment_id": "P-1", "amount_minor": 100, "currency": "CNY"}
    data.update(changes)
    return data
