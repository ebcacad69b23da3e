"""The activities' requests, as the workflow sends them, for one loan of one borrower."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from contracts import (
    CaseSnapshot,
    ContactRequest,
    PaymentRecord,
    PrepareRequest,
)
from domain.case import Borrower, CaseInput

CASE_ID = "run-0001"


LOAN_ID = "L-1001"


NAME = "王小明"


PHONE = "+8613800138000"


EMAIL = "wxm@example.cn"


ADDRESS = "上海市浦东新区世纪大道 100 号"


OPENED_AT = "2026-11-05T01:00:00+00:00"


def borrower(**changes: Any) -> Borrower:
    base = Borrower(
        borrower_id="B-77",
        name=NAME,
        phone=PHONE,
        email=EMAIL,
        address=ADDRESS,
        timezone="Asia/Shanghai",
        locale="zh-CN",
    )
    return replace(base, **changes)


def case_input(**changes: Any) -> CaseInput:
    base = CaseInput(
        loan_id=LOAN_ID,
        borrower=borrower(),
        currency="CNY",
        overdue_amount_minor=500_000,
        due_date="2026-11-01",
        policy="default",
        portfolio="consumer",
    )
    return replace(base, **changes)


def prepare_request(**changes: Any) -> PrepareRequest:
    base = PrepareRequest(
        case_id=CASE_ID,
        workflow_id=f"collection-{LOAN_ID}",
        case=case_input(),
        opened_at=OPENED_AT,
    )
    return replace(base, **changes)


# The default ladder's template on each channel that is not a reminder's.
TEMPLATE_OF_CHANNEL = {"call": "first_call", "field_visit": "field_visit"}


def contact(attempt_id: str, channel: str = "sms", **changes: Any) -> ContactRequest:
    base = ContactRequest(
        case_id=CASE_ID,
        attempt_id=attempt_id,
        loan_id=LOAN_ID,
        channel=channel,
        template=TEMPLATE_OF_CHANNEL.get(channel, "reminder_friendly"),
        days_past_due=3,
        currency="CNY",
        outstanding_minor=500_000,
        scheduled_at="2026-11-04T02:00:00+00:00",
        borrower_id="B-77",
    )
    return replace(base, **changes)


def payment(record_id: str, **changes: Any) -> PaymentRecord:
    base = PaymentRecord(
        case_id=CASE_ID,
        record_id=record_id,
        loan_id=LOAN_ID,
        payment_id=f"P-{record_id}",
        amount_minor=100_000,
        currency="CNY",
        status="applied",
        received_at="2026-11-06T04:00:00+00:00",
        source="bank",
        applied_minor=100_000,
        outstanding_after_minor=400_000,
    )
    return replace(base, **changes)


def snapshot(status: str = "active", at: str = "2026-11-07T00:00:00+00:00") -> CaseSnapshot:
    return CaseSnapshot(
        case_id=CASE_ID,
        loan_id=LOAN_ID,
        stage="reminder",
        status=status,
        days_past_due=6,
        outstanding_minor=400_000,
        paid_minor=100_000,
        at=at,
    )
