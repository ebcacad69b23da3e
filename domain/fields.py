"""Field readers shared by every parser: each names the field it rejects."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.errors import InvalidInput

MESSAGE_ID_MAX = 128


def as_object(raw: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise InvalidInput(field, "must be a JSON object")
    return raw


def required_str(data: Mapping[str, Any], field: str, *, prefix: str = "") -> str:
    value = data.get(field)
    if value is None or value == "":
        raise InvalidInput(prefix + field, "is required")
    if not isinstance(value, str):
        raise InvalidInput(prefix + field, "must be a string")
    return value


def optional_str(data: Mapping[str, Any], field: str, *, prefix: str = "") -> str | None:
    value = data.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput(prefix + field, "must be a string")
    return value


def message_id(data: Mapping[str, Any], field: str) -> str:
    """Caller-chosen idempotency key of a payment, promise, hold or outcome: 1-128 characters."""
    value = required_str(data, field)
    if len(value) > MESSAGE_ID_MAX:
        raise InvalidInput(field, f"must be at most {MESSAGE_ID_MAX} characters")
    return value


def positive_int(data: Mapping[str, Any], field: str, *, prefix: str = "") -> int:
    value = data.get(field)
    if value is None:
        raise InvalidInput(prefix + field, "is required")
    # bool is an int in Python; money never is.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(prefix + field, "must be an integer amount in minor units")
    if value <= 0:
        raise InvalidInput(prefix + field, "must be greater than 0")
    return value


def iso_date(data: Mapping[str, Any], field: str, *, prefix: str = "") -> date:
    value = required_str(data, field, prefix=prefix)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(prefix + field, "must be an ISO date (YYYY-MM-DD)") from None


def optional_datetime(data: Mapping[str, Any], field: str) -> datetime | None:
    value = optional_str(data, field)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(field, "must be an ISO 8601 timestamp") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def one_of(data: Mapping[str, Any], field: str, allowed: tuple[str, ...]) -> str:
    value = required_str(data, field)
    if value not in allowed:
        raise InvalidInput(field, f"must be one of {', '.join(allowed)}")
    return value


def matching(value: str, pattern: re.Pattern[str], field: str, description: str) -> str:
    if not pattern.fullmatch(value):
        raise InvalidInput(field, f"must be {description}")
    return value


def timezone_name(value: str, field: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(field, f"unknown IANA timezone {value!r}") from None
    return value
