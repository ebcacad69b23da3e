"""Custom search attributes of a case: the operator filters the Temporal UI list by these.

No personal data here: ids, amounts and classifications only.
"""

from __future__ import annotations

from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.common import SearchAttributeKey

STAGE = SearchAttributeKey.for_keyword("CollectionStage")
STATUS = SearchAttributeKey.for_keyword("CollectionStatus")
BUCKET = SearchAttributeKey.for_keyword("CollectionBucket")
POLICY = SearchAttributeKey.for_keyword("CollectionPolicy")
PORTFOLIO = SearchAttributeKey.for_keyword("CollectionPortfolio")
LOAN_ID = SearchAttributeKey.for_keyword("LoanId")
OUTSTANDING_MINOR = SearchAttributeKey.for_int("OutstandingMinor")
DAYS_PAST_DUE = SearchAttributeKey.for_int("DaysPastDue")
DUE_DATE = SearchAttributeKey.for_datetime("DueDate")

ALL: list[SearchAttributeKey[Any]] = [
    STAGE,
    STATUS,
    BUCKET,
    POLICY,
    PORTFOLIO,
    LOAN_ID,
    OUTSTANDING_MINOR,
    DAYS_PAST_DUE,
    DUE_DATE,
]

# Value types as the `temporal` CLI spells them for `--search-attribute NAME=TYPE`.
CLI_TYPES = {
    "CollectionStage": "Keyword",
    "CollectionStatus": "Keyword",
    "CollectionBucket": "Keyword",
    "CollectionPolicy": "Keyword",
    "CollectionPortfolio": "Keyword",
    "LoanId": "Keyword",
    "OutstandingMinor": "Int",
    "DaysPastDue": "Int",
    "DueDate": "Datetime",
}

# The same types as the operator service takes them (`starter.py setup`, the test servers).
INDEXED_TYPES: dict[str, IndexedValueType.ValueType] = {
    name: IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{kind.upper()}")
    for name, kind in CLI_TYPES.items()
}
