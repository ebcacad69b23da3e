"""Finding cases through visibility: the list query over the search attributes, and rows."""

from __future__ import annotations

import re
from typing import Any

from temporalio.client import Client

from cli.cases import WORKFLOW_TYPE
from cli.console import UsageError
from domain.money import format_money
from workflows import search_attributes as sa

# Values put into a visibility query are restricted to these characters (no quoting tricks).
QUERY_VALUE = re.compile(r"[A-Za-z0-9._ -]{1,64}")


def list_query(
    *,
    stage: str | None = None,
    status: str | None = None,
    policy: str | None = None,
    portfolio: str | None = None,
) -> str:
    """A visibility query over the case search attributes; values are checked, not quoted."""
    clauses = [f"WorkflowType = '{WORKFLOW_TYPE}'"]
    for key, value in (
        (sa.STAGE, stage),
        (sa.STATUS, status),
        (sa.POLICY, policy),
        (sa.PORTFOLIO, portfolio),
    ):
        if value is None:
            continue
        if not QUERY_VALUE.fullmatch(value):
            raise UsageError(f"{key.name}: {value!r} may only use letters, digits and . _ - space")
        clauses.append(f"{key.name} = '{value}'")
    return " AND ".join(clauses)


CASE_COLUMNS = ("loan_id", "stage", "status", "bucket", "dpd", "outstanding")


async def case_rows(client: Client, query: str, *, limit: int) -> list[tuple[Any, ...]]:
    """One row (`CASE_COLUMNS`) per case the query finds, from its search attributes and memo."""
    rows: list[tuple[Any, ...]] = []
    async for execution in client.list_workflows(query, limit=limit):
        attributes = execution.typed_search_attributes
        outstanding = attributes.get(sa.OUTSTANDING_MINOR)
        currency = await execution.memo_value("currency", None, type_hint=str)
        if outstanding is None:
            amount = "-"
        elif currency:
            amount = format_money(outstanding, currency)
        else:
            amount = str(outstanding)
        rows.append(
            (
                attributes.get(sa.LOAN_ID) or execution.id.removeprefix("collection-"),
                attributes.get(sa.STAGE) or "-",
                attributes.get(sa.STATUS) or "-",
                attributes.get(sa.BUCKET) or "-",
                attributes.get(sa.DAYS_PAST_DUE),
                amount,
            )
        )
    return rows
