"""Custom search attributes of a case: the operator filters the Temporal UI list by these.

No personal data here: ids, amounts and classifications only. None is ever stale: days past
due would only stay current by waking every case daily, so operators query `DueDate` instead
(`DueDate < "2026-10-01T00:00:00Z"` is "more than N days past due" on a given day).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.common import SearchAttributeKey

STAGE = SearchAttributeKey.for_keyword("CollectionStage")
STATUS = SearchAttributeKey.for_keyword("CollectionStatus")
BUCKET = SearchAttributeKey.for_keyword("CollectionBucket")
POLICY = SearchAttributeKey.for_keyword("CollectionPolicy")
PORTFOLIO = SearchAttributeKey.for_keyword("CollectionPortfolio")
# The responsible collector's desk user name; absent before phone collection.
ASSIGNEE = SearchAttributeKey.for_keyword("CollectionAssignee")
# `<experiment>:<arm>` of a case routed into an experiment; absent outside one.
ARM = SearchAttributeKey.for_keyword("CollectionArm")
LOAN_ID = SearchAttributeKey.for_keyword("LoanId")
OUTSTANDING_MINOR = SearchAttributeKey.for_int("OutstandingMinor")
DUE_DATE = SearchAttributeKey.for_datetime("DueDate")

ALL: tuple[SearchAttributeKey[Any], ...] = (
    STAGE,
    STATUS,
    BUCKET,
    POLICY,
    PORTFOLIO,
    ASSIGNEE,
    ARM,
    LOAN_ID,
    OUTSTANDING_MINOR,
    DUE_DATE,
)

# Value types as the `temporal` CLI spells them for `--search-attribute NAME=TYPE`.
CLI_TYPES = MappingProxyType(
    {
        "CollectionStage": "Keyword",
        "CollectionStatus": "Keyword",
        "CollectionBucket": "Keyword",
        "CollectionPolicy": "Keyword",
        "CollectionPortfolio": "Keyword",
        "CollectionAssignee": "Keyword",
        "CollectionArm": "Keyword",
        "LoanId": "Keyword",
        "OutstandingMinor": "Int",
        "DueDate": "Datetime",
    }
)

# The same types as the operator service takes them (`starter.py setup`, the test servers).
INDEXED_TYPES: MappingProxyType[str, IndexedValueType.ValueType] = MappingProxyType(
    {
        name: IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{kind.upper()}")
        for name, kind in CLI_TYPES.items()
    }
)
