"""Keep personal data out of the logs: a structlog processor that blanks it before rendering.

Logs carry loan and case ids only; this is the net under that rule, for a detail that slips
into a message, an exception or a value. Phone numbers and email addresses are found by their
shape wherever they appear. Names and addresses have no shape: they are blanked by the key they
come under, as a structured value (`name=...`), a `name=...` / `"name": ...` pair in a text, or
a field of an object's repr (`Borrower(name='...')`). A name written into prose
("called Ann Lee") cannot be recognised; code must not log one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any

REDACTED = "[redacted]"
PHONE = "[phone]"
EMAIL = "[email]"

# Keys whose values are personal whatever they look like, compared in lower case.
PERSONAL_KEYS = frozenset(
    {
        "name",
        "borrower_name",
        "full_name",
        "first_name",
        "last_name",
        "address",
        "borrower_address",
        "phone",
        "phone_number",
        "borrower_phone",
        "mobile",
        "email",
        "email_address",
        "borrower_email",
        "recipient",
        "to",
    }
)

EMAIL_PATTERN = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Never inside an id, a number or a timestamp: no letter, digit or id punctuation around.
_ALONE_BEFORE = r"(?<![A-Za-z0-9._/-])"
_ALONE_AFTER = r"(?![A-Za-z0-9_/-]|\.\d)"
PHONE_PATTERNS = tuple(
    re.compile(_ALONE_BEFORE + body + _ALONE_AFTER)
    for body in (
        # E.164, written plain (+8613800138000) or grouped (+1 415 555 0134).
        r"\+[1-9]\d{0,3}(?:[ -]?\d){6,14}",
        # Chinese mobile numbers: 11 digits from 13x to 19x, plain or grouped 3-4-4.
        r"1[3-9]\d[ -]?\d{4}[ -]?\d{4}",
        # US numbers: (415) 555-0134, 415-555-0134, 415.555.0134, 415 555 0134.
        r"(?:\(\d{3}\)\s?|\d{3}[ .-])\d{3}[ .-]\d{4}",
    )
)
_KEY = "|".join(sorted(PERSONAL_KEYS, key=len, reverse=True))
# A personal key and its value inside a text: `name=Ann Lee`, `name='Ann'`, `"name": "Ann"`. An
# unquoted value runs to the next key (`key=`, `key:`, `'key':`) or the end of the line.
KEY_VALUE_PATTERN = re.compile(
    rf"""(?P<key>(?<![A-Za-z0-9_])(?P<quote>["']?)(?:{_KEY})(?P=quote)\s*[=:]\s*)"""
    r"""(?P<value>"[^"]*"|'[^']*'|.+?(?=[,;]?\s+[("'{\[]*[A-Za-z_][A-Za-z0-9_]*["']?\s*[=:]|$))""",
    re.IGNORECASE | re.MULTILINE,
)


def redact_personal_data(
    _logger: Any, _method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """The structlog processor: every value of the event, the message included, redacted."""
    for key, value in list(event_dict.items()):
        event_dict[key] = _redacted_value(key, value)
    return event_dict


def redact_text(text: str) -> str:
    """A text with personal values of known keys, phone numbers and emails blanked."""
    text = EMAIL_PATTERN.sub(EMAIL, text)
    for pattern in PHONE_PATTERNS:
        text = pattern.sub(PHONE, text)
    return KEY_VALUE_PATTERN.sub(_blank_value, text)


def _redacted_value(key: object, value: Any) -> Any:
    if isinstance(key, str) and key.lower() in PERSONAL_KEYS and value is not None:
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Mapping):
        return {item_key: _redacted_value(item_key, item) for item_key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redacted_value(None, item) for item in value]
    # Any other object is rendered by its repr: redact that text instead.
    return redact_text(repr(value))


def _blank_value(match: re.Match[str]) -> str:
    value = match.group("value")
    quote = value[0] if value[:1] in ("'", '"') else ""
    return f"{match.group('key')}{quote}{REDACTED}{quote}"
