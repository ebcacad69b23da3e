"""Payloads as Temporal's default converter makes and reads them, the contracts' dataclasses
read with each class's field types looked up once per process.

The SDK's JSON converter looks up a dataclass's field types (`typing.get_type_hints`, which
evaluates every annotation string again) for every dataclass it decodes, nested ones too: a
case's preparation result alone holds a few dozen (the policy, its ladder, its windows). That
was most of the time a case spent reading its payloads (about 1.5 ms of CPU per `demo` case
until its first contact; issue 19). The wire format is the default one: JSON written by the
SDK's own encoder, so any client or worker with Temporal's default converter reads what this
one writes, and the other way round.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, get_type_hints

from temporalio.client import Client
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
    JSONTypeConverter,
    value_to_type,
)

# One entry per dataclass decoded: the contracts' and the domain's, a few dozen.
DATACLASSES_KEPT = 512


@dataclasses.dataclass(frozen=True)
class _Field:
    name: str
    hint: Any
    init: bool


@functools.lru_cache(maxsize=DATACLASSES_KEPT)
def _fields_of(cls: type) -> tuple[_Field, ...]:
    hints = get_type_hints(cls)
    return tuple(
        _Field(field.name, hints[field.name], field.init) for field in dataclasses.fields(cls)
    )


class DataclassFieldsOnce(JSONTypeConverter):
    """Decodes a dataclass as the SDK does (unknown keys ignored, a missing required field
    refused by the class itself, `init=False` fields restored), its field types looked up once."""

    def to_typed_value(self, hint: type, value: Any) -> Any:
        if not (isinstance(hint, type) and dataclasses.is_dataclass(hint)):
            return JSONTypeConverter.Unhandled
        if not isinstance(value, dict):
            raise TypeError(f"Cannot convert to dataclass {hint}, value is {type(value)} not dict")
        values: dict[str, Any] = {}
        not_in_init: dict[str, Any] = {}
        for field in _fields_of(hint):
            if field.name not in value:
                continue
            try:
                converted = value_to_type(field.hint, value[field.name], [self])
            except Exception as error:
                raise TypeError(
                    f"Failed converting field {field.name} on dataclass {hint}"
                ) from error
            (values if field.init else not_in_init)[field.name] = converted
        decoded = hint(**values)
        for name, field_value in not_in_init.items():
            object.__setattr__(decoded, name, field_value)
        return decoded


class CasePayloadConverter(CompositePayloadConverter):
    """Temporal's default payload converters, its JSON one reading dataclasses with
    `DataclassFieldsOnce`."""

    def __init__(self) -> None:
        super().__init__(
            *(
                JSONPlainPayloadConverter(custom_type_converters=[DataclassFieldsOnce()])
                if isinstance(converter, JSONPlainPayloadConverter)
                else converter
                for converter in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


def case_converter(base: DataConverter = DataConverter.default) -> DataConverter:
    """`base` reading payloads with `CasePayloadConverter`, where it had the default payload
    converter (another one, a user's, is left as it is)."""
    if base.payload_converter_class is not DefaultPayloadConverter:
        return base
    return dataclasses.replace(base, payload_converter_class=CasePayloadConverter)


def with_converter(client: Client, converter: DataConverter) -> Client:
    """`client` itself when it has `converter` already; otherwise a client on the same
    connection with it."""
    if converter is client.data_converter:
        return client
    # The configuration the client was created with: its plugins apply again on top.
    config = client.config()
    config["data_converter"] = converter
    return Client(**config)
