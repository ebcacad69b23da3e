"""Field readers shared by every parser: each names the field it rejects."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any, Literal, overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.errors import InvalidInput

# Every caller-chosen id (payment, hold, outcome, borrower...): the idempotency key, stored in
# varchar(128) columns.
MESSAGE_ID_MAX = 128
# Notes and reasons: enough for a sentence or two of an agent's account, small enough that a
# message cannot bloat the workflow history (a 1.9 MB hold reason once did).
NOTE_MAX = 2000
# The largest integer a JSON number holds exactly in JavaScript-based UIs and clients (2^53 - 1);
# well inside the 64-bit BIGINT columns, which overflow at 2^63.
AMOUNT_MAX = 2**53 - 1
# Who sent a message: a payment system, or the signed-in user the desk acts for. Stored in
# varchar(64) columns (the payments' `source`).
SOURCE_MAX = 64

# Marks a message's field added after cases were already answering messages (see `added_later`).
ADDED_LATER = "added_later"

# What `storable_id` keeps of an over-long id, and how much of its hash it appends, so that
# distinct absurd ids stay distinct and the result still fits MESSAGE_ID_MAX (100 + 2 + 16).
_STORABLE_ID_PREFIX = 100
_STORABLE_ID_HASH_HEX = 16
# Characters no database column can hold: PostgreSQL text refuses NUL, and UTF-8 encoders
# (psycopg, sqlite3) refuse an unpaired surrogate, which Python's JSON decoder makes of "\ud800".
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


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
    return _storable(value, prefix + field)


def optional_str(data: Mapping[str, Any], field: str, *, prefix: str = "") -> str | None:
    value = data.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput(prefix + field, "must be a string")
    return _storable(value, prefix + field)


def _storable(value: str, field: str) -> str:
    # Accepted text is recorded in the database; text it cannot hold would fail the recording
    # activity on every retry, long after the message was answered.
    if _UNSTORABLE.search(value):
        raise InvalidInput(field, "must not contain NUL characters or unpaired surrogates")
    return value


@overload
def bounded_text(
    data: Mapping[str, Any],
    field: str,
    *,
    required: Literal[True],
    max_chars: int = NOTE_MAX,
    prefix: str = "",
) -> str: ...


@overload
def bounded_text(
    data: Mapping[str, Any],
    field: str,
    *,
    required: Literal[False],
    max_chars: int = NOTE_MAX,
    prefix: str = "",
) -> str | None: ...


def bounded_text(
    data: Mapping[str, Any],
    field: str,
    *,
    required: bool,
    max_chars: int = NOTE_MAX,
    prefix: str = "",
) -> str | None:
    """Free text of at most `max_chars` characters (notes and reasons by default)."""
    value = (
        required_str(data, field, prefix=prefix)
        if required
        else optional_str(data, field, prefix=prefix)
    )
    if value is not None and len(value) > max_chars:
        raise InvalidInput(prefix + field, f"must be at most {max_chars} characters")
    return value


def added_later() -> Any:
    """A dataclass field, None by default, that a message gained after cases had answered
    messages: unset, it is left out of the message's fingerprint
    (`domain.case_core.fingerprint`), so a message resent across the upgrade is still the same
    message and not a conflict with its own first answer."""
    return dataclasses.field(default=None, metadata={ADDED_LATER: True})


def source(data: Mapping[str, Any]) -> str | None:
    """The optional `source` of a message (who sent it): at most SOURCE_MAX characters."""
    return bounded_text(data, "source", required=False, max_chars=SOURCE_MAX)


def message_id(data: Mapping[str, Any], field: str, *, prefix: str = "") -> str:
    """Caller-chosen idempotency key of a payment, promise, hold or outcome: 1-128 characters."""
    if data.get(field) == "":
        # Given, but empty: say so, rather than "is required" to a caller who sent one.
        raise InvalidInput(prefix + field, f"must be 1 to {MESSAGE_ID_MAX} characters, not empty")
    return bounded_text(data, field, required=True, max_chars=MESSAGE_ID_MAX, prefix=prefix)


def storable_id(value: Any) -> str | None:
    """The id to record with a rejected message, whatever the message held.

    A rejection must be stored even when the id is why it was rejected: a 300-character id
    does not fit the id columns, and a NUL fits no PostgreSQL text. Such an id is kept as its
    first characters plus a hash of the whole, so that it stays recognisable and two absurd
    ids stay apart. Not a string, or empty: there is no id to keep.
    """
    if not isinstance(value, str) or value == "":
        return None
    if len(value) <= MESSAGE_ID_MAX and not _UNSTORABLE.search(value):
        return value
    # surrogatepass: the hash must not fail on the very characters that made the id unstorable.
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    head = _UNSTORABLE.sub("\ufffd", value[:_STORABLE_ID_PREFIX])
    return f"{head}…#{digest[:_STORABLE_ID_HASH_HEX]}"


def shown(value: str, limit: int = 32) -> str:
    """`value` quoted for an error message, cut to `limit` characters.

    Error messages become rejection reasons that are stored and shown in `status`; echoing a
    megabyte of input there would defeat every bound above.
    """
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}…"


def positive_int(data: Mapping[str, Any], field: str, *, prefix: str = "") -> int:
    """An amount in minor units: an integer from 1 to AMOUNT_MAX."""
    value = data.get(field)
    if value is None:
        raise InvalidInput(prefix + field, "is required")
    # bool is an int in Python; money never is.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(prefix + field, "must be an integer amount in minor units")
    if value <= 0:
        raise InvalidInput(prefix + field, "must be greater than 0")
    if value > AMOUNT_MAX:
        raise InvalidInput(prefix + field, f"must be at most {AMOUNT_MAX} minor units")
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


def aware_datetime(data: Mapping[str, Any], field: str) -> datetime:
    """A moment written with its UTC offset (`2026-12-05T14:00:00+08:00`), as UTC: a time
    without an offset would be read in some zone the sender did not mean."""
    value = required_str(data, field)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise InvalidInput(
            field, "must be an ISO 8601 date and time with its UTC offset (2026-12-05T14:00+08:00)"
        )
    return parsed.astimezone(UTC)


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
        raise InvalidInput(field, f"unknown IANA timezone {shown(value)}") from None
    return value
