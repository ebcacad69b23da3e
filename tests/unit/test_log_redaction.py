"""Logs without personal data: the worker's real log output, structlog's and the stdlib's (as
activities log through `activity.logger`), keeps loan ids and amounts and loses phone numbers,
emails, names and addresses; and keeps the ids of the trace it was logged in."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import opentelemetry.trace
import pytest
import structlog
from opentelemetry.trace import NonRecordingSpan, SpanContext
from temporalio import activity
from temporalio.testing import ActivityEnvironment

from runtime.log_redaction import PHONE, REDACTED, redact_text
from runtime.logs import configure_logging

NAME = "王小明"
EN_NAME = "Ann Lee"
PHONE_CN = "+8613800138000"
MOBILE_CN = "13912345678"
PHONE_US = "(415) 555-0134"
EMAIL = "wxm@example.cn"
ADDRESS = "上海市浦东新区世纪大道100号"
EN_ADDRESS = "12 Elm Street, Springfield"
PERSONAL = (NAME, EN_NAME, PHONE_CN, MOBILE_CN, PHONE_US, EMAIL, ADDRESS, EN_ADDRESS)
# Pieces of the above that must not survive either (a partly blanked value still leaks).
FRAGMENTS = ("13800138000", "555-0134", "wxm@", "世纪大道", "Elm Street", "Springfield")


@dataclass(frozen=True)
class Borrower:
    borrower_id: str
    name: str
    phone: str


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """`configure_logging` sets process-wide state; put it back for the other tests."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    config = structlog.get_config()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**config)


def log_everything() -> None:
    """One of each way a personal detail could reach the log, beside ids and amounts."""
    log = structlog.get_logger("test.structlog")
    log.info(
        "borrower contacted",
        loan_id="L-1001",
        amount_minor=500_000,
        name=NAME,
        address=ADDRESS,
        phone=PHONE_CN,
        email=EMAIL,
        to=PHONE_US,
    )
    log.info(f"sms to {MOBILE_CN} and mail to {EMAIL} for loan L-1002, due ¥5,000.00")
    log.info("case prepared", loan_id="L-1003", borrower=Borrower("B-77", NAME, PHONE_CN))
    log.info("contacts", loan_id="L-1004", details={"recipient": EMAIL, "amount_minor": 120_000})
    stdlib = logging.getLogger("activities.case_activities")
    stdlib.info(
        "notice sent: loan_id=%s name=%s address=%s phone=%s amount_minor=%d",
        "L-1005",
        EN_NAME,
        EN_ADDRESS,
        PHONE_US,
        120_000,
    )
    try:
        raise ValueError(f"provider refused {PHONE_CN} / {EMAIL} for loan L-1006")
    except ValueError:
        stdlib.exception("delivery failed: loan_id=%s", "L-1006")

    @activity.defn
    def send_notice() -> None:
        activity.logger.info(
            "sent to %s (%s), borrower {'name': '%s'}: loan_id=%s amount_minor=%s",
            EMAIL,
            PHONE_CN,
            NAME,
            "L-1007",
            77_700,
        )

    ActivityEnvironment().run(send_notice)


@pytest.mark.parametrize("stream_type", [io.StringIO, Terminal], ids=["json", "console"])
def test_the_workers_log_output_carries_no_personal_data(
    monkeypatch: pytest.MonkeyPatch, restore_logging: None, stream_type: type[io.StringIO]
) -> None:
    stream = stream_type()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging()

    log_everything()
    output = stream.getvalue()

    assert len(output.strip().splitlines()) >= 7
    for personal in PERSONAL + FRAGMENTS:
        assert personal not in output
    for kept in ("L-1001", "L-1002", "L-1003", "L-1004", "L-1005", "L-1006", "L-1007"):
        assert kept in output
    for amount in ("500000", "120000", "77700", "¥5,000.00", "B-77"):
        assert amount in output
    assert REDACTED in output and PHONE in output
    assert "ValueError" in output and "Traceback" in output
    # The activity's own details (appended by activity.logger) stay.
    assert "'workflow_run_id': 'test-run'" in output and "temporalio.activity" in output
    if stream_type is io.StringIO:
        lines = [json.loads(line) for line in output.splitlines()]
        first = next(line for line in lines if line["event"] == "borrower contacted")
        assert first["loan_id"] == "L-1001" and first["amount_minor"] == 500_000
        assert first["name"] == first["address"] == first["phone"] == REDACTED
        assert first["email"] == first["to"] == REDACTED
        contacts = next(line for line in lines if line["event"] == "contacts")
        assert contacts["details"] == {"recipient": REDACTED, "amount_minor": 120_000}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call +86 138 0013 8000 now", "call [phone] now"),
        ("call 138-0013-8000 now", "call [phone] now"),
        ("电话13800138000。", "电话[phone]。"),
        ("us +1 415 555 0134 or 415.555.0134 or 415-555-0134", "us [phone] or [phone] or [phone]"),
        ("Mail A.Lee+loans@mail.example.com.", "Mail [email]."),
        ("name=Ann Lee loan_id=L-1", "name=[redacted] loan_id=L-1"),
        ("borrower_name: 王小明, loan_id=L-1", "borrower_name: [redacted], loan_id=L-1"),
        (
            """{"address": "1 Main St", "loan_id": "L-1"}""",
            """{"address": "[redacted]", "loan_id": "L-1"}""",
        ),
        ("Borrower(name='Ann', phone='x')", "Borrower(name='[redacted]', phone='[redacted]')"),
        ("Address=12 Elm Street, Springfield", "Address=[redacted]"),
    ],
)
def test_personal_values_in_a_text_are_blanked(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "loan_id=L-13800138000 case_id=collection-L-1001",
        "at 2026-11-04T02:00:00.123456+00:00 run 0190c1b2-7c3e-7d45-9a1b-138001380001",
        "amount_minor=500000 outstanding ¥5,000.00 of $1,200.00 dpd=30",
        "policy_name=default template_name=reminder_firm logger_name=worker",
        "attempt sms-1 version 1.35.0 port 7233 pid 13579",
    ],
)
def test_ids_amounts_and_times_are_kept(text: str) -> None:
    assert redact_text(text) == text


def test_a_line_logged_in_a_span_carries_its_trace_and_span_ids(
    monkeypatch: pytest.MonkeyPatch, restore_logging: None
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging()
    # Ids whose digits look like a mobile number inside: kept whole, not blanked as one.
    trace_id, span_id = "00000000000000000000013800138000", "0000013800138000"
    span = NonRecordingSpan(SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=False))

    with opentelemetry.trace.use_span(span):
        structlog.get_logger("test.structlog").info("inside", loan_id="L-1")
        logging.getLogger("activities.case_activities").info("stdlib inside: loan_id=L-1")
    structlog.get_logger("test.structlog").info("outside", loan_id="L-1")

    lines = {line["event"]: line for line in map(json.loads, stream.getvalue().splitlines())}
    for inside in ("inside", "stdlib inside: loan_id=L-1"):
        assert (lines[inside]["trace_id"], lines[inside]["span_id"]) == (trace_id, span_id)
    assert "trace_id" not in lines["outside"] and "span_id" not in lines["outside"]
