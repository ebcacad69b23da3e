"""The command line without Temporal: CSV rows, fake clients and the starter run as a process."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from types import SimpleNamespace

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
    ListSearchAttributesResponse,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from tests.helpers.paths import PROJECT_DIR

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


HEADER = (
    "loan_id,borrower_id,name,phone,email,timezone,locale,currency,"
    "overdue_amount_minor,due_date,policy,portfolio,extra"
)


GOOD_ROW = (
    "L-1,B-1,Test A,+8613800138000,a@example.cn,Asia/Shanghai,zh-CN,CNY,500000,2026-03-01,,retail,x"
)


async def refuse_connect() -> Client:
    raise AssertionError("must not connect to Temporal")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    # A closed port: any attempt to reach Temporal fails instead of hanging.
    env = {**os.environ, "TEMPORAL_ADDRESS": "127.0.0.1:1"}
    return subprocess.run(
        [sys.executable, "starter.py", *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


# -- setup: search attributes -----------------------------------------------------------------
class FakeOperatorService:
    """The namespace's custom search attributes; refuses to add (or list) them when told to."""

    def __init__(
        self,
        existing: dict[str, IndexedValueType.ValueType],
        refuse: RPCStatusCode | None = None,
        refuse_list: RPCStatusCode | None = None,
    ) -> None:
        self.existing = dict(existing)
        self.refuse = refuse
        self.refuse_list = refuse_list
        self.added: list[dict[str, IndexedValueType.ValueType]] = []

    async def list_search_attributes(
        self, request: ListSearchAttributesRequest
    ) -> ListSearchAttributesResponse:
        assert request.namespace == "default"
        if self.refuse_list is not None:
            raise RPCError("Request unauthorized.", self.refuse_list, b"")
        return ListSearchAttributesResponse(custom_attributes=self.existing)

    async def add_search_attributes(self, request: AddSearchAttributesRequest) -> None:
        assert request.namespace == "default"
        if self.refuse is not None:
            raise RPCError("Request unauthorized.", self.refuse, b"")
        self.added.append(dict(request.search_attributes))
        self.existing.update(request.search_attributes)


def operator_client(service: FakeOperatorService, host: str = "localhost:7233") -> object:
    config = SimpleNamespace(target_host=host)
    return SimpleNamespace(
        namespace="default",
        operator_service=service,
        service_client=SimpleNamespace(config=config),
    )


KEYWORD = IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
