"""Rows of the case database and the desk's tables for the tests of the desk's read models:
cases, call tasks, visits, audit events, desk users and assignments, at fixed moments."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlmodel import SQLModel

from activities.store import Store
from migrations.desk_tables import DeskAssignmentRow, DeskSettlementRequestRow, DeskUserRow
from migrations.tables import (
    BorrowerRow,
    CaseEventRow,
    CaseRow,
    ContactAttemptRow,
    FieldVisitRow,
    WorkItemRow,
    utc_iso,
)

# 12:00 in Shanghai: inside the default policy's contact window (08:00-21:00 local).
NOW = datetime(2026, 12, 3, 4, 0, tzinfo=UTC)
SHANGHAI = "Asia/Shanghai"
# 23:00 the evening before in New York at NOW: outside the window.
NEW_YORK = "America/New_York"
DUE_M1 = date(2026, 11, 20)  # 13 days past due at NOW
DUE_M2 = date(2026, 10, 20)  # 44 days past due at NOW


def add(store: Store, *rows: SQLModel) -> None:
    with store.session() as session:
        session.add_all(rows)


def add_case(
    store: Store,
    loan_id: str,
    *,
    borrower_id: str | None = None,
    outstanding_minor: int = 100_000,
    due_date: date = DUE_M1,
    timezone: str = SHANGHAI,
    stage: str = "phone",
    currency: str = "CNY",
) -> CaseRow:
    """An open case of `loan_id` (case id `C-<loan>`), with its borrower's row if new."""
    borrower = borrower_id or f"B-{loan_id}"
    case = CaseRow(
        case_id=f"C-{loan_id}",
        workflow_id=f"collection-{loan_id}",
        loan_id=loan_id,
        borrower_id=borrower,
        currency=currency,
        overdue_amount_minor=outstanding_minor,
        due_date=due_date.isoformat(),
        policy="default",
        portfolio="consumer",
        timezone=timezone,
        stage=stage,
        status="active",
        outstanding_minor=outstanding_minor,
        opened_at=utc_iso(datetime(2026, 11, 21, tzinfo=UTC)),
        updated_at=utc_iso(datetime(2026, 11, 21, tzinfo=UTC)),
    )
    with store.session() as session:
        if session.get(BorrowerRow, borrower) is None:
            session.add(
                BorrowerRow(
                    borrower_id=borrower,
                    name=f"Name of {borrower}",
                    phone="+8613800138000",
                    address=f"Address of {borrower}",
                    timezone=timezone,
                    updated_at=case.opened_at,
                )
            )
        session.add(case)
    return case


def contact(case: CaseRow, attempt_id: str, at: datetime, **changes: Any) -> ContactAttemptRow:
    """A call's outbox row (status queued: given to an agent, outcome not known yet)."""
    values: dict[str, Any] = {
        "attempt_id": attempt_id,
        "case_id": case.case_id,
        "loan_id": case.loan_id,
        "channel": "call",
        "template": "first_call",
        "recipient": "+8613800138000",
        "status": "queued",
        "created_at": utc_iso(at),
    }
    return ContactAttemptRow(**{**values, **changes})


def add_call_task(
    store: Store, case: CaseRow, attempt_id: str, *, due_at: datetime, created_at: datetime
) -> None:
    """An open call task with its own outbox row, as `queue_call` writes them."""
    add(
        store,
        contact(case, attempt_id, created_at),
        WorkItemRow(
            work_item_id=attempt_id,
            case_id=case.case_id,
            loan_id=case.loan_id,
            created_at=utc_iso(created_at),
            due_at=utc_iso(due_at),
        ),
    )


def add_user(store: Store, name: str, role: str, *, buckets: str = "") -> None:
    at = utc_iso(datetime(2026, 11, 1, tzinfo=UTC))
    add(
        store, DeskUserRow(user_name=name, role=role, buckets=buckets, created_at=at, updated_at=at)
    )


def assign(store: Store, loan_id: str, user: str, *, team: str, at: datetime) -> None:
    add(
        store,
        DeskAssignmentRow(
            request_id=f"assign-{loan_id}-{user}-{utc_iso(at)}",
            loan_id=loan_id,
            team=team,
            user_name=user,
            assigned_at=utc_iso(at),
        ),
    )


def add_event(
    store: Store, case: CaseRow, kind: str, ref_id: str, at: datetime, **detail: Any
) -> None:
    add(
        store,
        CaseEventRow(
            event_key=f"{case.case_id}:{kind}:{ref_id}",
            case_id=case.case_id,
            loan_id=case.loan_id,
            kind=kind,
            ref_id=ref_id,
            detail=json.dumps(detail),
            at=utc_iso(at),
        ),
    )


def add_visit(store: Store, case: CaseRow, visit_id: str, *, at: datetime) -> None:
    add(
        store,
        FieldVisitRow(
            visit_id=visit_id,
            case_id=case.case_id,
            loan_id=case.loan_id,
            scheduled_for=utc_iso(at),
        ),
    )


def add_settlement_request(
    store: Store, request_id: str, loan_id: str, *, at: datetime, decision: str = ""
) -> None:
    add(
        store,
        DeskSettlementRequestRow(
            request_id=request_id,
            loan_id=loan_id,
            amount_minor=50_000,
            due_date=(at.date() + timedelta(days=10)).isoformat(),
            requested_by="alice",
            requested_at=utc_iso(at),
            decision=decision,
        ),
    )
