"""The worker's payload converter (runtime.payloads): the default wire format, dataclasses read
as the SDK reads them, each class's field types looked up once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.converter import (
    DataConverter,
    DefaultPayloadConverter,
    PayloadConverter,
)

from activities.preparation import planned_ladder
from contracts import CaseRecords, ContactRequest, ContactResult, PreparedCase
from domain.routing import Strategy
from policies import available_policies, load_policy
from runtime import payloads
from tests.helpers.activity_requests import (
    CASE_ID,
    LOAN_ID,
    contact,
    payment,
    prepare_request,
    snapshot,
)

DEFAULT = DefaultPayloadConverter()
CASE = payloads.CasePayloadConverter()


def prepared(policy_name: str) -> PreparedCase:
    policy = load_policy(policy_name)
    return PreparedCase(
        policy=policy,
        timezone="Asia/Shanghai",
        planned_ladder=planned_ladder(policy),
        opened_at="2026-11-04T02:00:00+00:00",
        strategy=Strategy(policy=policy_name, experiment="tone", arm="firm"),
    )


def samples() -> list[tuple[Any, type]]:
    records = CaseRecords(
        case_id=CASE_ID,
        loan_id=LOAN_ID,
        payments=[payment("r-1"), payment("r-2", amount_minor=1)],
        snapshot=snapshot("on_hold"),
    )
    return [
        *((prepared(name), PreparedCase) for name in available_policies()),
        (prepare_request(), type(prepare_request())),
        (contact("a-1", records=records), ContactRequest),
        (
            ContactResult(attempt_id="a-1", result="deferred", rule="cap", retry_at="x"),
            ContactResult,
        ),
    ]


@pytest.mark.parametrize("value, hint", samples(), ids=lambda sample: type(sample).__name__)
def test_a_payload_is_written_and_read_as_the_default_converter_does(
    value: Any, hint: type
) -> None:
    [written] = CASE.to_payloads([value])
    assert written == DEFAULT.to_payloads([value])[0]
    [read] = CASE.from_payloads([written], [hint])
    assert read == value
    assert read == DEFAULT.from_payloads([written], [hint])[0]


@dataclass
class WithDerived:
    kept: int
    derived: str = field(init=False, default="")


def test_unknown_keys_are_ignored_and_a_field_outside_init_is_restored() -> None:
    [payload] = DEFAULT.to_payloads([{"kept": 2, "derived": "d", "unknown": True}])
    [read] = CASE.from_payloads([payload], [WithDerived])
    assert (read.kept, read.derived) == (2, "d")


def test_a_missing_field_or_a_wrong_type_is_refused_like_the_sdk_refuses_it() -> None:
    for value in ({"derived": "d"}, {"kept": "two"}, ["kept"]):
        [payload] = DEFAULT.to_payloads([value])
        refusals = []
        for converter in (DEFAULT, CASE):
            with pytest.raises(Exception) as refused:
                converter.from_payloads([payload], [WithDerived])
            refusals.append(type(refused.value))
        assert refusals[0] is refusals[1]


def test_a_class_s_field_types_are_looked_up_once() -> None:
    payloads._fields_of.cache_clear()
    written = DEFAULT.to_payloads([prepared("demo")])
    CASE.from_payloads(written, [PreparedCase])
    first = payloads._fields_of.cache_info()
    assert first.misses > 5  # the policy's nested dataclasses, each class once
    CASE.from_payloads(written, [PreparedCase])
    again = payloads._fields_of.cache_info()
    assert again.misses == first.misses
    assert again.hits > first.hits


class OwnConverter(DefaultPayloadConverter):
    pass


def test_a_converter_of_the_user_s_own_is_kept() -> None:
    own = DataConverter(payload_converter_class=OwnConverter)
    assert payloads.case_converter(own) is own
    converter = payloads.case_converter()
    assert converter.payload_converter_class is payloads.CasePayloadConverter
    assert isinstance(converter.payload_converter, PayloadConverter)


async def test_a_client_gets_the_converter_on_its_own_connection_once(time_env: Any) -> None:
    client: Client = time_env.client
    converted = payloads.with_converter(client, payloads.case_converter(client.data_converter))
    assert converted.data_converter.payload_converter_class is payloads.CasePayloadConverter
    assert converted.service_client is client.service_client
    again = payloads.with_converter(converted, payloads.case_converter(converted.data_converter))
    assert again is converted
