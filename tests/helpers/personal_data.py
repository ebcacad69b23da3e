"""Where personal data could show in what Temporal stores: every text inside a message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload

from tests.helpers.cases import case_input

PERSONAL = case_input(date.today())["borrower"]
NAME, PHONE, EMAIL, ADDRESS = (PERSONAL[key] for key in ("name", "phone", "email", "address"))


def payload_text(payload: Payload) -> str:
    """A payload as text: JSON decoded (the converter escapes non-ASCII as \\uXXXX), else raw."""
    try:
        return json.dumps(json.loads(payload.data), ensure_ascii=False)
    except ValueError:
        return payload.data.decode("utf-8", "replace")


def texts_of(message: Message) -> Iterator[str]:
    """Every string, byte string and payload anywhere in `message`, as text."""
    if isinstance(message, Payload):
        yield payload_text(message)
        yield from (value.decode("utf-8", "replace") for value in message.metadata.values())
        return
    for field, value in message.ListFields():
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            for key, item in value.items():
                yield str(key)
                yield from _texts_of_value(item)
        elif field.is_repeated:
            for item in value:
                yield from _texts_of_value(item)
        else:
            yield from _texts_of_value(value)


def _texts_of_value(value: Any) -> Iterator[str]:
    if isinstance(value, Message):
        yield from texts_of(value)
    elif isinstance(value, bytes):
        yield value.decode("utf-8", "replace")
    elif isinstance(value, str):
        yield value
