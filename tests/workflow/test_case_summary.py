"""What the Temporal UI shows first of a case it started: a one-line summary and a few lines
of details, with no personal data."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta

from temporalio.testing import WorkflowEnvironment

from cli.cases import open_case


# On a server of its own: no worker takes the case's first workflow task, and the test server
# never lets go of a pending task's hold on time skipping once the case is terminated.
async def test_a_started_case_has_a_summary_and_details_in_the_ui(
    own_time_env: WorkflowEnvironment,
) -> None:
    loan_id = f"L-UI-{uuid.uuid4().hex[:8]}"
    raw = {
        "loan_id": loan_id,
        "borrower": {"borrower_id": "B-100077", "name": "Wang Fang", "phone": "+8613800138000"},
        "currency": "CNY",
        "overdue_amount_minor": 500000,
        "due_date": (date.today() - timedelta(days=12)).isoformat(),
    }
    result = await open_case(own_time_env.client, raw, now=datetime.now(UTC))
    handle = own_time_env.client.get_workflow_handle(result.workflow_id)
    try:
        description = await handle.describe()
        summary = await description.static_summary()
        details = await description.static_details()
    finally:
        await handle.terminate("test done")
    assert (
        summary
        == f"Loan {loan_id} · CNY 5,000.00 overdue · borrower …0077 · policy chosen by routing"
    )
    assert details is not None
    assert f"**Loan** {loan_id}" in details and "CNY 5,000.00" in details
    assert re.search(r"DPD 1[123] at opening, M1", details)  # the borrower's calendar
    for personal in ("Wang Fang", "8613800138000", "B-100077"):
        assert personal not in f"{summary}\n{details}"
