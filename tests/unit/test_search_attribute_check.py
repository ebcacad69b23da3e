"""The worker's check of the namespace's search attributes, against fake operator services."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest
from structlog.testing import capture_logs
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.client import Client
from temporalio.service import RPCStatusCode

from runtime import namespace
from tests.helpers.cli import KEYWORD, FakeOperatorService, operator_client
from workflows import search_attributes as sa


# -- the check itself, with a fake operator service ------------------------------------------
@pytest.mark.parametrize("refusal", [RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED])
def test_check_warns_and_passes_where_the_server_cannot_list(refusal: RPCStatusCode) -> None:
    service = FakeOperatorService({}, refuse_list=refusal)
    with capture_logs() as logs:
        asyncio.run(
            namespace.check_search_attributes(
                cast(Client, operator_client(service)), sa.INDEXED_TYPES
            )
        )
    (entry,) = logs
    assert entry["log_level"] == "warning"
    assert entry["event"].startswith("cannot list the search attributes of namespace default")
    assert "starting without checking them" in entry["event"]
    assert entry["rpc_status"] == refusal.name


def test_check_names_missing_and_wrong_type_attributes() -> None:
    existing = {**sa.INDEXED_TYPES, "OutstandingMinor": KEYWORD}
    del existing["CollectionStage"], existing["DueDate"]
    service = FakeOperatorService(existing)
    with capture_logs() as logs, pytest.raises(namespace.NamespaceNotReady) as refused:
        asyncio.run(
            namespace.check_search_attributes(
                cast(Client, operator_client(service)), sa.INDEXED_TYPES
            )
        )
    message = str(refused.value)
    assert "lacks the search attributes CollectionStage, DueDate" in message
    assert "wrong type OutstandingMinor (Keyword, Int needed)" in message
    assert "python starter.py setup" in message
    assert "remove OutstandingMinor from the namespace first" in message
    (entry,) = logs
    assert entry["log_level"] == "error"
    assert entry["missing"] == ["CollectionStage", "DueDate"]
    assert entry["wrong_type"] == ["OutstandingMinor"]
    assert service.added == []  # the worker only checks; setup is the operator's decision


def test_check_is_silent_when_every_attribute_is_there() -> None:
    # Extra attributes of other systems in the namespace are no concern of ours.
    service = FakeOperatorService({**sa.INDEXED_TYPES, "OtherTeamsAttribute": INT})
    with capture_logs() as logs:
        asyncio.run(
            namespace.check_search_attributes(
                cast(Client, operator_client(service)), sa.INDEXED_TYPES
            )
        )
    assert logs == []


INT = IndexedValueType.INDEXED_VALUE_TYPE_INT
