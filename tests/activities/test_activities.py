"""The activities against real databases (SQLite and PostgreSQL) and a real loopback HTTP provider.

Every activity is called twice somewhere below: the second call must change nothing and send
nothing, because Temporal retries activities and operators re-run workflows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.event import listen as event_listen
from sqlalchemy.event import remove as event_remove
from sqlalchemy.exc import IntegrityError
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

import contracts
from activities.case_activities import CollectionActivities
from activities.notify import WebhookNotifier
from activities.sqlite_engine import WRITER_BUSY_TIMEOUT_MS
from activities.store import Store
from contracts import (
    CaseEvent,
    CaseRecords,
    ContactRequest,
    LegalHandOffRequest,
    LoanFacts,
    PrepareRequest,
)
from domain.case import parse_case_input
from migrations.tables import (
    BorrowerRow,
    CaseEventRow,
    CaseRow,
    ContactAttemptRow,
    FieldVisitRow,
    LegalReferralRow,
    PaymentRow,
    WorkItemRow,
    utc_iso,
)
from tests.helpers.activity_requests import (
    ADDRESS,
    CASE_ID,
    EMAIL,
    LOAN_ID,
    NAME,
    OPENED_AT,
    PHONE,
    borrower,
    case_input,
    contact,
    payment,
    prepare_request,
    snapshot,
)
from tests.helpers.databases import rows, sqlite_store
from tests.helpers.paths import HISTORY_DIR


def event(event_key: str, kind: str = "note", **changes: Any) -> CaseEvent:
    base = CaseEvent(
        case_id=CASE_ID,
        event_key=event_key,
        loan_id=LOAN_ID,
        kind=kind,
        at="2026-11-06T03:00:00+00:00",
    )
    return replace(base, **changes)


def application_error(excinfo: pytest.ExceptionInfo[ApplicationError]) -> ApplicationError:
    return excinfo.value


# -- a loopback notification provider -------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    payload: dict[str, Any]
    status: int


@dataclass
class Provider:
    """Answers POSTs with the scripted statuses in order, then 200; records every request."""

    url: str = ""
    script: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self) -> int:
        with self.lock:
            return self.script.pop(0) if self.script else 200

    @property
    def accepted(self) -> list[Received]:
        return [request for request in self.received if 200 <= request.status < 300]


class ProviderHandler(BaseHTTPRequestHandler):
    server: ProviderServer

    def do_POST(self) -> None:
        provider = self.server.provider
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        status = provider.next_status()
        with provider.lock:
            provider.received.append(Received(dict(self.headers), payload, status))
            number = len(provider.received)
        body = json.dumps({"id": f"msg-{number}"} if status < 300 else {"error": "no"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class ProviderServer(ThreadingHTTPServer):
    provider: Provider


@pytest.fixture
def provider() -> Iterator[Provider]:
    server = ProviderServer(("127.0.0.1", 0), ProviderHandler)
    server.provider = Provider(url=f"http://127.0.0.1:{server.server_address[1]}/send")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.provider
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def outbox(store: Store, tmp_path: Path) -> Iterator[CollectionActivities]:
    notifier = WebhookNotifier({})
    activities = CollectionActivities(store, tmp_path / "evidence", notifier)
    activities.prepare_case(prepare_request())
    yield activities
    notifier.close()


@pytest.fixture
def webhook(store: Store, tmp_path: Path, provider: Provider) -> Iterator[CollectionActivities]:
    notifier = WebhookNotifier({"sms": provider.url, "email": provider.url}, timeout_seconds=5)
    activities = CollectionActivities(store, tmp_path / "evidence", notifier)
    activities.prepare_case(prepare_request())
    yield activities
    notifier.close()


# -- prepare_case ---------------------------------------------------------------------------


def test_prepare_case_records_the_case_once_and_keeps_the_first_opening(
    store: Store, tmp_path: Path
) -> None:
    activities = CollectionActivities(store, tmp_path, WebhookNotifier({}))
    request = prepare_request(case=case_input(borrower=borrower(timezone=None)))
    first = activities.prepare_case(request)
    again = activities.prepare_case(replace(request, opened_at="2026-11-09T00:00:00+00:00"))

    assert first == again
    assert first.timezone == "Asia/Shanghai"  # the default policy's, as the borrower names none
    assert first.policy.name == "default"
    assert first.planned_ladder[0] == "DPD 3 · reminder · sms · reminder_friendly"
    assert first.planned_ladder[-1] == "DPD 61 · legal · legal · legal_referral"
    [case] = rows(store, CaseRow)
    assert case.case_id == CASE_ID
    assert case.workflow_id == f"collection-{LOAN_ID}"
    assert case.opened_at == utc_iso(OPENED_AT)
    assert case.outstanding_minor == 500_000
    assert (case.stage, case.status, case.closed_at) == ("grace", "active", None)
    assert json.loads(case.planned_ladder) == first.planned_ladder


def test_prepare_case_with_an_unknown_policy_is_an_invalid_case(
    store: Store, tmp_path: Path
) -> None:
    activities = CollectionActivities(store, tmp_path, WebhookNotifier({}))
    with pytest.raises(ApplicationError) as excinfo:
        activities.prepare_case(prepare_request(case=case_input(policy="no-such-policy")))
    error = application_error(excinfo)
    assert error.type == contracts.INVALID_CASE
    assert error.non_retryable
    assert error.message.startswith("policy:")
    assert rows(store, CaseRow) == []


def test_activities_run_in_the_temporal_activity_environment(store: Store, tmp_path: Path) -> None:
    activities = CollectionActivities(store, tmp_path, WebhookNotifier({}))
    environment = ActivityEnvironment()
    prepared = environment.run(activities.prepare_case, prepare_request())
    result = environment.run(activities.send_notice, contact("sms-1"))
    assert prepared.policy.name == "default"
    assert result.result == "sent"
    # Every activity the workflow calls by name, once (the method names are the contract's).
    assert sorted(activity.__name__ for activity in activities.all()) == sorted(
        [
            contracts.PREPARE_CASE,
            contracts.SEND_NOTICE,
            contracts.QUEUE_CALL,
            contracts.BOOK_FIELD_VISIT,
            contracts.HAND_OFF_TO_LEGAL,
            contracts.STORE_CASE_RECORDS,
            contracts.ASSIGN_COLLECTOR,
        ]
    )


# -- the borrower's contact details, by id ------------------------------------------------


def test_prepare_case_keeps_the_newest_cases_borrower_details(store: Store, tmp_path: Path) -> None:
    activities = CollectionActivities(store, tmp_path, WebhookNotifier({}))
    activities.prepare_case(prepare_request())
    activities.prepare_case(prepare_request())
    [first] = rows(store, BorrowerRow)
    assert (first.borrower_id, first.name, first.phone, first.email, first.address) == (
        "B-77",
        NAME,
        PHONE,
        EMAIL,
        ADDRESS,
    )
    assert (first.timezone, first.locale) == ("Asia/Shanghai", "zh-CN")
    assert first.updated_at == utc_iso(OPENED_AT)

    # A later case of the same borrower brings new details: they replace the old ones...
    moved = borrower(phone="+8613900139000", address="北京市海淀区新地址 2 号", locale="en")
    activities.prepare_case(
        prepare_request(
            case_id="run-0002",
            case=case_input(loan_id="L-2002", borrower=moved),
            opened_at="2026-12-01T00:00:00+00:00",
        )
    )
    # ...and a retried preparation of the older case does not bring the old ones back.
    activities.prepare_case(prepare_request())

    [latest] = rows(store, BorrowerRow)
    assert (latest.phone, latest.address, latest.locale) == (
        "+8613900139000",
        "北京市海淀区新地址 2 号",
        "en",
    )
    assert latest.updated_at == utc_iso("2026-12-01T00:00:00+00:00")
    assert outbox_recipient(activities, store, contact("sms-1")) == "+8613900139000"


def outbox_recipient(
    activities: CollectionActivities, store: Store, request: ContactRequest
) -> str | None:
    activities.send_notice(request)
    attempt = store.get(ContactAttemptRow, request.attempt_id)
    assert attempt is not None
    return attempt.recipient


def test_contacts_read_the_borrowers_details_from_the_database(
    outbox: CollectionActivities, store: Store
) -> None:
    outbox.send_notice(contact("sms-1"))
    outbox.send_notice(contact("email-1", "email"))
    outbox.send_notice(contact("letter-1", "letter"))
    outbox.queue_call(contact("call-1", "call"))
    outbox.book_field_visit(contact("visit-1", "field_visit"))

    attempts = {row.attempt_id: row for row in rows(store, ContactAttemptRow)}
    assert {key: row.recipient for key, row in attempts.items()} == {
        "sms-1": PHONE,
        "email-1": EMAIL,
        "letter-1": ADDRESS,
        "call-1": PHONE,
        "visit-1": ADDRESS,
    }
    # The notice greets the borrower by the name on record, in their language.
    assert all(NAME in (row.body or "") for row in attempts.values())
    assert all(row.status in ("sent", "queued", "booked") for row in attempts.values())


def test_a_borrower_without_a_row_is_skipped_on_every_channel(
    outbox: CollectionActivities, store: Store
) -> None:
    unknown = {"borrower_id": "B-none"}
    results = [
        outbox.send_notice(contact("sms-1", **unknown)),
        outbox.send_notice(contact("email-1", "email", **unknown)),
        outbox.queue_call(contact("call-1", "call", **unknown)),
        outbox.book_field_visit(contact("visit-1", "field_visit", **unknown)),
        # A task from before requests named the borrower, of a case never prepared.
        outbox.send_notice(contact("sms-2", case_id="run-unknown", borrower_id=None)),
    ]

    assert {result.result for result in results} == {"skipped_no_contact"}
    assert {(row.status, row.recipient) for row in rows(store, ContactAttemptRow)} == {
        ("skipped", None)
    }
    assert rows(store, WorkItemRow) == []
    assert rows(store, FieldVisitRow) == []


def recorded_old_requests() -> tuple[dict[str, Any], dict[str, Any]]:
    """From a history recorded before requests named the borrower: the start input and, per
    contact activity, the first input it scheduled (carrying the borrower's details)."""
    for path in sorted(HISTORY_DIR.glob("unpaid_written_off@*.json")):
        history = WorkflowHistory.from_json("old", path.read_text())
        started = history.events[0].workflow_execution_started_event_attributes
        [start] = DataConverter.default.payload_converter.from_payloads(started.input.payloads)
        inputs: dict[str, Any] = {}
        for history_event in history.events:
            if history_event.HasField("activity_task_scheduled_event_attributes"):
                scheduled = history_event.activity_task_scheduled_event_attributes
                inputs.setdefault(scheduled.activity_type.name, scheduled.input.payloads)
        old = json.loads(inputs["send_notice"][0].data)
        if "borrower" in old and "borrower_id" not in old:
            return start, inputs
    pytest.fail("tests/histories/ holds no history of requests that carried the borrower")


def test_tasks_scheduled_with_the_old_payloads_find_the_borrower_through_the_case(
    store: Store, tmp_path: Path
) -> None:
    start, inputs = recorded_old_requests()
    convert = DataConverter.default.payload_converter
    [sms] = convert.from_payloads(inputs["send_notice"], [ContactRequest])
    [call] = convert.from_payloads(inputs["queue_call"], [ContactRequest])
    [visit] = convert.from_payloads(inputs["book_field_visit"], [ContactRequest])
    [legal] = convert.from_payloads(inputs["hand_off_to_legal"], [LegalHandOffRequest])
    assert (sms.borrower_id, legal.loan) == (None, None)

    activities = CollectionActivities(store, tmp_path, WebhookNotifier({}))
    case = parse_case_input(start, now=datetime.fromisoformat(sms.scheduled_at))
    # The details on record differ from those the old payloads carried: the record wins.
    on_record = replace(case.borrower, phone="+8613900139000", address="北京市海淀区新地址 2 号")
    activities.prepare_case(
        PrepareRequest(
            case_id=sms.case_id,
            workflow_id=f"collection-{case.loan_id}",
            case=replace(case, borrower=on_record),
            opened_at=OPENED_AT,
        )
    )

    assert activities.send_notice(sms).result == "sent"
    assert activities.queue_call(call).result == "queued"
    assert activities.book_field_visit(visit).result == "booked"
    result = activities.hand_off_to_legal(legal)

    recipients = {row.channel: row.recipient for row in rows(store, ContactAttemptRow)}
    assert recipients == {
        "sms": "+8613900139000",
        "call": "+8613900139000",
        "field_visit": "北京市海淀区新地址 2 号",
        "legal": None,
    }
    evidence = json.loads((Path(result.evidence_dir) / "case.json").read_text())
    assert evidence["loan_id"] == case.loan_id
    assert (evidence["due_date"], evidence["overdue_amount_minor"]) == (
        case.due_date,
        case.overdue_amount_minor,
    )
    assert evidence["borrower"]["address"] == "北京市海淀区新地址 2 号"
    assert evidence["borrower"]["name"] == case.borrower.name


def test_database_errors_do_not_quote_the_rows_values(store: Store) -> None:
    """An error's message reaches logs and, as an activity's failure, Temporal's history."""
    row = BorrowerRow(borrower_id="B-77", phone=PHONE, address=ADDRESS, updated_at=OPENED_AT)
    store.insert_if_absent(row)
    with pytest.raises(IntegrityError) as excinfo, store.session() as session:
        session.add(BorrowerRow(**row.model_dump()))
    assert "borrowers" in str(excinfo.value)
    assert PHONE not in str(excinfo.value) and ADDRESS not in str(excinfo.value)


# -- send_notice ----------------------------------------------------------------------------


def test_notice_without_provider_goes_to_the_outbox_once(
    outbox: CollectionActivities, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    first = outbox.send_notice(contact("sms-1"))
    [stored] = rows(store, ContactAttemptRow)
    again = outbox.send_notice(contact("sms-1"))

    assert first.result == again.result == "sent"
    [after] = rows(store, ContactAttemptRow)
    assert after.sent_at == stored.sent_at is not None
    assert (after.status, after.recipient, after.channel) == ("sent", PHONE, "sms")
    assert after.body is not None and LOAN_ID in after.body and "¥5,000.00" in after.body
    assert LOAN_ID in caplog.text
    for personal in (NAME, PHONE, EMAIL, ADDRESS):
        assert personal not in caplog.text


def test_notice_and_call_script_state_the_debt_by_part_the_request_carries(
    outbox: CollectionActivities, store: Store
) -> None:
    """The parts are those of the step's decision, read from the request at send time; a
    task scheduled before debts had parts (no `balance`) states the amount alone."""
    balance = {
        "principal_minor": 400_000,
        "interest_minor": 50_000,
        "fees_minor": 0,
        "penalty_minor": 1_200,
    }
    outbox.send_notice(contact("sms-1", outstanding_minor=451_200, balance=balance))
    outbox.queue_call(contact("call-1", "call", outstanding_minor=451_200, balance=balance))
    # Another channel: the policy's caps defer a second SMS the same day.
    outbox.send_notice(contact("email-old", "email"))

    bodies = {row.attempt_id: row.body or "" for row in rows(store, ContactAttemptRow)}
    line = " ¥4,512.00，其中本金 ¥4,000.00、利息 ¥500.00、罚息 ¥12.00。"
    assert line in bodies["sms-1"] and line in bodies["call-1"]
    assert "费用" not in bodies["sms-1"]
    assert " ¥5,000.00。" in bodies["email-old"] and "其中" not in bodies["email-old"]


@pytest.mark.parametrize(("channel", "recipient"), [("email", EMAIL), ("letter", ADDRESS)])
def test_notice_goes_to_the_channels_contact_detail(
    outbox: CollectionActivities, store: Store, channel: str, recipient: str
) -> None:
    assert outbox.send_notice(contact("n-1", channel)).result == "sent"
    [stored] = rows(store, ContactAttemptRow)
    assert stored.recipient == recipient


def test_notice_without_the_contact_detail_is_skipped(
    webhook: CollectionActivities, store: Store, provider: Provider
) -> None:
    webhook.prepare_case(prepare_request(case=case_input(borrower=borrower(email=None))))
    request = contact("email-1", "email")
    first = webhook.send_notice(request)
    again = webhook.send_notice(request)

    assert first.result == again.result == "skipped_no_contact"
    [stored] = rows(store, ContactAttemptRow)
    assert (stored.status, stored.recipient, stored.sent_at) == ("skipped", None, None)
    assert provider.received == []


def test_notice_through_the_provider_is_sent_once(
    webhook: CollectionActivities, store: Store, provider: Provider
) -> None:
    first = webhook.send_notice(contact("sms-1"))
    again = webhook.send_notice(contact("sms-1"))

    assert len(provider.received) == 1
    [request] = provider.received
    assert request.headers["Idempotency-Key"] == "sms-1"
    assert request.payload["idempotency_key"] == "sms-1"
    assert request.payload["to"] == PHONE
    assert request.payload["channel"] == "sms"
    assert LOAN_ID in request.payload["body"]
    assert first == again
    assert (first.result, first.provider_ref) == ("sent", "msg-1")
    [stored] = rows(store, ContactAttemptRow)
    assert (stored.status, stored.provider_ref) == ("sent", "msg-1")


def test_rejected_notice_fails_for_good(
    webhook: CollectionActivities, store: Store, provider: Provider
) -> None:
    provider.script = [422]
    for _ in range(2):
        with pytest.raises(ApplicationError) as excinfo:
            webhook.send_notice(contact("sms-1"))
        assert application_error(excinfo).type == "NotificationRejected"
        assert application_error(excinfo).non_retryable

    assert len(provider.received) == 1  # the re-run did not try again
    [stored] = rows(store, ContactAttemptRow)
    assert (stored.status, stored.result, stored.sent_at) == ("failed", "failed", None)


def test_provider_failure_is_retried_and_then_sent_exactly_once(
    webhook: CollectionActivities, store: Store, provider: Provider
) -> None:
    provider.script = [503]
    with pytest.raises(ApplicationError) as excinfo:
        webhook.send_notice(contact("sms-1"))
    assert not application_error(excinfo).non_retryable
    assert application_error(excinfo).type == "NotificationUnavailable"
    [pending] = rows(store, ContactAttemptRow)
    assert pending.status == "pending"

    retried = webhook.send_notice(contact("sms-1"))
    webhook.send_notice(contact("sms-1"))

    assert retried.result == "sent"
    assert [request.status for request in provider.received] == [503, 200]
    assert len(provider.accepted) == 1
    assert {request.headers["Idempotency-Key"] for request in provider.received} == {"sms-1"}


def test_a_send_given_up_half_way_is_on_record_as_unconfirmed_and_resent_under_its_key(
    webhook: CollectionActivities, store: Store, provider: Provider
) -> None:
    provider.script = [503]
    with pytest.raises(ApplicationError):
        webhook.send_notice(contact("sms-1"))
    # The case cancelled the send (a payment came); its outbox row was written already.
    webhook.store_case_records(
        CaseRecords(
            CASE_ID, LOAN_ID, events=[event("e-1", kind="contact_not_sent", ref_id="sms-1:1")]
        )
    )
    [given_up] = rows(store, ContactAttemptRow)
    assert (given_up.status, given_up.result) == ("unconfirmed", "unconfirmed")

    # The step decided again goes out under the same key; a record of it stays "sent".
    assert webhook.send_notice(contact("sms-1")).result == "sent"
    webhook.store_case_records(
        CaseRecords(
            CASE_ID, LOAN_ID, events=[event("e-2", kind="contact_not_sent", ref_id="sms-1:2")]
        )
    )
    [sent] = rows(store, ContactAttemptRow)
    assert sent.status == "sent"
    assert {request.headers["Idempotency-Key"] for request in provider.received} == {"sms-1"}


def test_unreachable_provider_is_a_retryable_error(store: Store, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    notifier = WebhookNotifier({"sms": f"http://127.0.0.1:{closed_port}/"}, timeout_seconds=2)
    activities = CollectionActivities(store, tmp_path, notifier)
    activities.prepare_case(prepare_request())
    with pytest.raises(ApplicationError) as excinfo:
        activities.send_notice(contact("sms-1"))
    assert not application_error(excinfo).non_retryable
    [stored] = rows(store, ContactAttemptRow)
    assert stored.status == "pending"


# -- calls and visits -----------------------------------------------------------------------


def test_queue_call_creates_one_open_work_item(outbox: CollectionActivities, store: Store) -> None:
    request = contact("call-1", "call", template="first_call", days_past_due=14)
    first = outbox.queue_call(request)
    again = outbox.queue_call(request)

    assert first.result == again.result == "queued"
    [attempt] = rows(store, ContactAttemptRow)
    assert (attempt.channel, attempt.status, attempt.recipient) == ("call", "queued", PHONE)
    [item] = rows(store, WorkItemRow)
    assert (item.work_item_id, item.queue, item.kind, item.status) == (
        "call-1",
        "phone-agents",
        "call",
        "open",
    )
    assert item.due_at == utc_iso(request.scheduled_at)


def test_queue_call_without_a_phone_number_is_skipped(
    outbox: CollectionActivities, store: Store
) -> None:
    outbox.prepare_case(prepare_request(case=case_input(borrower=borrower(phone=None))))
    result = outbox.queue_call(contact("call-1", "call"))
    assert result.result == "skipped_no_contact"
    assert rows(store, WorkItemRow) == []


def test_book_field_visit_books_two_staff_once(outbox: CollectionActivities, store: Store) -> None:
    request = contact("visit-1", "field_visit", template="field_visit", days_past_due=40)
    first = outbox.book_field_visit(request)
    again = outbox.book_field_visit(request)

    assert first.result == again.result == "booked"
    [visit] = rows(store, FieldVisitRow)
    assert (visit.visit_id, visit.staff_count, visit.status) == ("visit-1", 2, "booked")
    assert visit.scheduled_for == utc_iso(request.scheduled_at)
    [attempt] = rows(store, ContactAttemptRow)
    assert (attempt.status, attempt.recipient) == ("booked", ADDRESS)


def test_contact_outcome_closes_the_work_item(outbox: CollectionActivities, store: Store) -> None:
    request = contact("call-1", "call", template="first_call")
    outbox.queue_call(request)
    outcome = event(
        "outcome-1",
        "contact_outcome",
        ref_id="call-1",
        detail={"outcome": "promised", "note": "will pay Friday"},
    )
    outbox.store_case_event(outcome)
    outbox.store_case_event(outcome)

    [item] = rows(store, WorkItemRow)
    assert (item.status, item.outcome, item.note) == ("done", "promised", "will pay Friday")
    assert item.completed_at == utc_iso(outcome.at)
    [attempt] = rows(store, ContactAttemptRow)
    assert (attempt.result, attempt.note) == ("promised", "will pay Friday")
    assert len(rows(store, CaseEventRow)) == 1
    # A retried queue_call still answers what it answered first.
    assert outbox.queue_call(request).result == "queued"


def test_visit_outcome_completes_the_visit(outbox: CollectionActivities, store: Store) -> None:
    outbox.book_field_visit(contact("visit-1", "field_visit", template="field_visit"))
    outbox.store_case_event(
        event("visit-outcome-1", "visit_outcome", ref_id="visit-1", detail={"outcome": "not_home"})
    )

    [visit] = rows(store, FieldVisitRow)
    assert (visit.status, visit.outcome, visit.note) == ("done", "not_home", None)
    [attempt] = rows(store, ContactAttemptRow)
    assert attempt.result == "not_home"


# -- payments, events, snapshots ------------------------------------------------------------


def test_store_payment_records_each_payment_once(
    outbox: CollectionActivities, store: Store
) -> None:
    outbox.store_payment(payment("r-1"))
    outbox.store_payment(payment("r-1"))
    # The same payment id applied again under another record id must not count twice.
    outbox.store_payment(payment("r-2", payment_id="P-r-1"))
    # Rejected payments may lack a payment id, or repeat one; each is kept.
    outbox.store_payment(payment("r-3", payment_id=None, status="rejected", reason="payment_id"))
    outbox.store_payment(payment("r-4", payment_id="P-r-1", status="rejected", reason="currency"))

    stored = {row.record_id: row for row in rows(store, PaymentRow)}
    assert sorted(stored) == ["r-1", "r-3", "r-4"]
    assert [row.record_id for row in stored.values() if row.status == "applied"] == ["r-1"]
    assert stored["r-1"].received_at == utc_iso("2026-11-06T04:00:00+00:00")
    assert stored["r-3"].reason == "payment_id"


def test_store_case_event_is_append_only_by_key(outbox: CollectionActivities, store: Store) -> None:
    outbox.store_case_event(event("e-1", "hold_placed", ref_id="h-1", detail={"kind": "dispute"}))
    outbox.store_case_event(event("e-1", "hold_placed", ref_id="h-1", detail={"kind": "changed"}))
    outbox.store_case_event(event("e-2", "hold_released", ref_id="h-1"))

    stored = {row.event_key: row for row in rows(store, CaseEventRow)}
    assert sorted(stored) == ["e-1", "e-2"]
    assert json.loads(stored["e-1"].detail) == {"kind": "dispute"}


def test_snapshot_updates_the_case_and_closing_sets_closed_at(
    outbox: CollectionActivities, store: Store
) -> None:
    outbox.store_case_snapshot(snapshot("active", at="2026-11-07T00:00:00+00:00"))
    [active] = rows(store, CaseRow)
    assert (active.stage, active.status, active.days_past_due) == ("reminder", "active", 6)
    assert (active.outstanding_minor, active.paid_minor) == (400_000, 100_000)
    assert active.closed_at is None

    outbox.store_case_snapshot(snapshot("paid", at="2026-11-08T00:00:00+00:00"))
    outbox.store_case_snapshot(snapshot("paid", at="2026-11-09T00:00:00+00:00"))
    # A late, older snapshot (an earlier activity finishing last) must not reopen the case.
    outbox.store_case_snapshot(snapshot("active", at="2026-11-07T12:00:00+00:00"))

    [closed] = rows(store, CaseRow)
    assert closed.status == "paid"
    assert closed.closed_at == utc_iso("2026-11-08T00:00:00+00:00")
    assert closed.updated_at == utc_iso("2026-11-09T00:00:00+00:00")


def test_the_case_row_takes_the_balance_by_part_and_a_payment_its_allocation(
    outbox: CollectionActivities, store: Store
) -> None:
    balance = {
        "principal_minor": 350_000,
        "interest_minor": 30_000,
        "fees_minor": 0,
        "penalty_minor": 20_000,
    }
    allocation = {
        "principal_minor": 50_000,
        "interest_minor": 20_000,
        "fees_minor": 25_000,
        "penalty_minor": 5_000,
    }
    records = CaseRecords(
        CASE_ID,
        LOAN_ID,
        payments=[payment("r-1", allocation=allocation)],
        snapshot=replace(snapshot(), balance=balance, balance_as_of="2026-11-07T08:00:00+08:00"),
    )
    outbox.store_case_records(records)
    outbox.store_case_records(records)
    [case] = rows(store, CaseRow)
    assert case.balance == balance
    assert case.balance_as_of == utc_iso("2026-11-07T00:00:00+00:00")
    [stored] = rows(store, PaymentRow)
    assert stored.allocation == allocation
    # An older snapshot changes nothing; one from before debts had parts (an activity task
    # scheduled then) leaves the parts as they were.
    older = {**balance, "principal_minor": 1}
    outbox.store_case_snapshot(
        replace(snapshot(at="2026-11-06T00:00:00+00:00"), balance=older, balance_as_of=None)
    )
    outbox.store_case_snapshot(snapshot(at="2026-11-08T00:00:00+00:00"))
    [case] = rows(store, CaseRow)
    assert case.updated_at == utc_iso("2026-11-08T00:00:00+00:00")
    assert (case.balance, case.balance_as_of) == (balance, utc_iso("2026-11-07T00:00:00+00:00"))


def test_snapshot_of_an_unknown_case_is_an_error(store: Store, tmp_path: Path) -> None:
    activities = CollectionActivities(store, tmp_path, WebhookNotifier({}))
    with pytest.raises(ApplicationError) as excinfo:
        activities.store_case_snapshot(snapshot())
    assert application_error(excinfo).type == "CaseNotFound"
    # In a batch, the events before the snapshot are kept, as when stored one by one.
    with pytest.raises(ApplicationError) as excinfo:
        activities.store_case_records(
            CaseRecords(CASE_ID, LOAN_ID, events=[event("e-1")], snapshot=snapshot())
        )
    assert application_error(excinfo).type == "CaseNotFound"
    assert [row.event_key for row in rows(store, CaseEventRow)] == ["e-1"]


def test_a_batch_with_a_conflicting_payment_stores_the_rest(
    outbox: CollectionActivities, store: Store
) -> None:
    outbox.store_payment(payment("r-1"))
    # The same payment under another record id conflicts in the one-transaction write: the
    # batch is then stored part by part, the payment counted once and the rest kept.
    outbox.store_case_records(
        CaseRecords(
            CASE_ID,
            LOAN_ID,
            payments=[payment("r-0"), payment("r-2", payment_id="P-r-1")],
            events=[event("e-1")],
            snapshot=snapshot("active", at="2026-11-07T00:00:00+00:00"),
        )
    )
    assert sorted(row.record_id for row in rows(store, PaymentRow)) == ["r-0", "r-1"]
    assert [row.event_key for row in rows(store, CaseEventRow)] == ["e-1"]
    [case] = rows(store, CaseRow)
    assert (case.stage, case.days_past_due) == ("reminder", 6)


# -- legal hand-off -------------------------------------------------------------------------


def legal_request(referral_id: str = "legal-1", **changes: Any) -> LegalHandOffRequest:
    base = LegalHandOffRequest(
        case_id=CASE_ID,
        referral_id=referral_id,
        loan=LoanFacts.of(case_input()),
        days_past_due=61,
        outstanding_minor=350_000,
        paid_minor=150_000,
        at="2026-12-31T02:00:00+00:00",
    )
    return replace(base, **changes)


R2_ALLOCATION = {
    "principal_minor": 30_000,
    "interest_minor": 5_000,
    "fees_minor": 10_000,
    "penalty_minor": 5_000,
}
HAND_OFF_BALANCE = {
    "principal_minor": 300_000,
    "interest_minor": 20_000,
    "fees_minor": 0,
    "penalty_minor": 30_000,
}


def test_hand_off_writes_a_verifiable_evidence_package_once(
    outbox: CollectionActivities, store: Store, tmp_path: Path
) -> None:
    outbox.send_notice(contact("sms-1"))
    outbox.queue_call(
        contact("call-1", "call", template="first_call", scheduled_at="2026-11-14T02:00:00+00:00")
    )
    outbox.store_case_event(
        event("o-1", "contact_outcome", ref_id="call-1", detail={"outcome": "no_answer"})
    )
    # r-1 was taken before debts had parts: no allocation.
    outbox.store_payment(payment("r-1", amount_minor=100_000, applied_minor=100_000))
    outbox.store_payment(
        payment(
            "r-2",
            amount_minor=50_000,
            applied_minor=50_000,
            outstanding_after_minor=350_000,
            received_at="2026-11-07T04:00:00+00:00",
            allocation=R2_ALLOCATION,
        )
    )
    outbox.store_payment(payment("r-3", status="rejected", reason="currency", applied_minor=0))

    result = outbox.hand_off_to_legal(legal_request(balance=HAND_OFF_BALANCE))
    again = outbox.hand_off_to_legal(legal_request(balance=HAND_OFF_BALANCE))

    assert again == result
    folder = Path(result.evidence_dir)
    assert folder == (tmp_path / "evidence" / LOAN_ID).resolve()
    names = ["case.json", "ledger.json", "contacts.json", "payments.json", "events.json"]
    assert result.files == [*names, "manifest.json"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["referral_id"] == "legal-1"
    assert [entry["name"] for entry in manifest["files"]] == names
    for entry in manifest["files"]:
        data = (folder / entry["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    [referral] = rows(store, LegalReferralRow)
    manifest_bytes = (folder / "manifest.json").read_bytes()
    assert referral.manifest_sha256 == hashlib.sha256(manifest_bytes).hexdigest()

    case = json.loads((folder / "case.json").read_text())
    assert case["loan_id"] == LOAN_ID
    # For the lawyers: whom the claim is against, from the case database.
    assert case["borrower"] == {
        "borrower_id": "B-77",
        "name": NAME,
        "phone": PHONE,
        "email": EMAIL,
        "address": ADDRESS,
        "timezone": "Asia/Shanghai",
        "locale": "zh-CN",
    }
    assert (case["currency"], case["overdue_amount_minor"]) == ("CNY", 500_000)
    assert case["at_hand_off"] == {
        "at": "2026-12-31T02:00:00+00:00",
        "days_past_due": 61,
        "outstanding_minor": 350_000,
        "paid_minor": 150_000,
        "balance": HAND_OFF_BALANCE,
    }
    ledger = json.loads((folder / "ledger.json").read_text())
    assert [entry["balance_minor"] for entry in ledger["entries"]] == [500_000, 400_000, 350_000]
    assert [entry.get("allocation") for entry in ledger["entries"]] == [None, None, R2_ALLOCATION]
    assert ledger["balance_minor"] == 350_000
    assert ledger["balance_at_hand_off"] == HAND_OFF_BALANCE
    contacts = json.loads((folder / "contacts.json").read_text())
    assert [(c["attempt_id"], c["status"], c["result"]) for c in contacts] == [
        ("sms-1", "sent", "sent"),
        ("call-1", "queued", "no_answer"),
    ]
    payments = json.loads((folder / "payments.json").read_text())
    assert [(p["record_id"], p["status"], p["allocation"]) for p in payments] == [
        ("r-1", "applied", None),
        ("r-3", "rejected", None),
        ("r-2", "applied", R2_ALLOCATION),
    ]
    events = json.loads((folder / "events.json").read_text())
    assert [(e["event_key"], e["detail"]) for e in events] == [("o-1", {"outcome": "no_answer"})]

    legal_attempts = [row for row in rows(store, ContactAttemptRow) if row.channel == "legal"]
    assert [(row.attempt_id, row.status) for row in legal_attempts] == [("legal-1", "referred")]
    # Temporary files of the atomic writes are gone.
    assert sorted(path.name for path in folder.iterdir()) == sorted(result.files)


def test_hand_off_refuses_a_loan_id_that_escapes_the_evidence_folder(
    outbox: CollectionActivities, store: Store
) -> None:
    with pytest.raises(ApplicationError) as excinfo:
        outbox.hand_off_to_legal(legal_request(loan=LoanFacts.of(case_input(loan_id=".."))))
    assert application_error(excinfo).type == contracts.INVALID_CASE
    assert rows(store, LegalReferralRow) == []


# -- concurrency and configuration ----------------------------------------------------------


def test_concurrent_activities_do_not_lose_or_duplicate_rows(
    outbox: CollectionActivities, store: Store
) -> None:
    # Several keys, each written by several threads at once, as retries racing would.
    keys = [f"e-{number % 20}" for number in range(120)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        list(pool.map(lambda key: outbox.store_case_event(event(key)), keys))
        # Each of the 10 reminders on a day of its own: one SMS a day is the policy's cap.
        results = list(
            pool.map(
                lambda n: outbox.send_notice(
                    contact(f"sms-{n % 10}", scheduled_at=f"2026-11-{10 + n % 10}T02:00:00+00:00")
                ),
                range(60),
            )
        )

    assert len(rows(store, CaseEventRow)) == 20
    assert len(rows(store, ContactAttemptRow)) == 10
    assert {result.result for result in results} == {"sent"}


def test_store_from_env_creates_the_sqlite_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'new' / 'cases.db'}")
    store = Store.from_env()
    store.migrate()
    with store.engine.connect() as connection:
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
    store.dispose()
    assert (tmp_path / "new" / "cases.db").exists()
    assert mode == "wal"


def test_sqlite_store_helper_creates_every_table(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    with store.engine.connect() as connection:
        tables = {
            name
            for (name,) in connection.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            )
        }
    store.dispose()
    assert {
        "cases",
        "contact_attempts",
        "payments",
        "work_items",
        "field_visits",
        "legal_referrals",
        "case_events",
    } <= tables


def test_case_records_are_idempotent_and_settle_the_open_work(
    outbox: CollectionActivities, store: Store
) -> None:
    outbox.queue_call(contact("call-1", "call"))
    outbox.book_field_visit(contact("visit-1", "field_visit"))
    hold_event = event("e-hold", "hold_placed", ref_id="h-1", detail={"kind": "dispute"})
    on_hold = CaseRecords(
        case_id=CASE_ID,
        loan_id=LOAN_ID,
        payments=[payment("r-1")],
        events=[hold_event],
        snapshot=snapshot("on_hold", at="2026-11-07T00:00:00+00:00"),
    )
    outbox.store_case_records(on_hold)
    outbox.store_case_records(on_hold)
    assert [row.status for row in rows(store, WorkItemRow)] == ["suspended"]
    assert [row.status for row in rows(store, FieldVisitRow)] == ["suspended"]
    assert len(rows(store, PaymentRow)) == 1 and len(rows(store, CaseEventRow)) == 1
    # Released: the work comes back; closed: it is cancelled for good.
    outbox.store_case_records(
        CaseRecords(CASE_ID, LOAN_ID, snapshot=snapshot("active", at="2026-11-08T00:00:00+00:00"))
    )
    assert [row.status for row in rows(store, WorkItemRow)] == ["open"]
    assert [row.status for row in rows(store, FieldVisitRow)] == ["booked"]
    outbox.store_case_records(
        CaseRecords(CASE_ID, LOAN_ID, snapshot=snapshot("paid", at="2026-11-09T00:00:00+00:00"))
    )
    outbox.store_case_records(
        CaseRecords(CASE_ID, LOAN_ID, snapshot=snapshot("active", at="2026-11-10T00:00:00+00:00"))
    )
    assert [row.status for row in rows(store, WorkItemRow)] == ["cancelled"]
    assert [row.status for row in rows(store, FieldVisitRow)] == ["cancelled"]


def test_a_snapshot_between_open_positions_moves_no_work(
    outbox: CollectionActivities, store: Store
) -> None:
    """Most snapshots (every contact carries one) go from one open position to another: no
    work moves then, so none is looked for. A position that stays on hold settles again."""
    outbox.queue_call(contact("call-1", "call"))
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event_listen(store.engine, "before_cursor_execute", seen)
    try:
        for at, status in (("2026-11-07", "active"), ("2026-11-08", "promise_pending")):
            snap = snapshot(status, at=f"{at}T00:00:00+00:00")
            outbox.store_case_records(CaseRecords(CASE_ID, LOAN_ID, snapshot=snap))
    finally:
        event_remove(store.engine, "before_cursor_execute", seen)
    assert [s for s in statements if s.startswith("UPDATE work_items")] == []
    assert [row.status for row in rows(store, WorkItemRow)] == ["open"]
    # On hold, then a call task written while the case is on hold (an activity that was in
    # flight), then on hold again: the late task is suspended too.
    on_hold = snapshot("on_hold", at="2026-11-09T00:00:00+00:00")
    outbox.store_case_records(CaseRecords(CASE_ID, LOAN_ID, snapshot=on_hold))
    outbox.queue_call(contact("call-2", "call", scheduled_at="2026-11-05T02:00:00+00:00"))
    still_on_hold = snapshot("on_hold", at="2026-11-10T00:00:00+00:00")
    outbox.store_case_records(CaseRecords(CASE_ID, LOAN_ID, snapshot=still_on_hold))
    assert [row.status for row in rows(store, WorkItemRow)] == ["suspended", "suspended"]


# -- the SQLite store under concurrency -----------------------------------------------------


def test_a_read_does_not_wait_for_a_writer_on_sqlite(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    activities = CollectionActivities(store, tmp_path / "evidence", WebhookNotifier({}))
    activities.prepare_case(prepare_request())
    try:
        # Another activity holds the write lock, mid-transaction.
        with store.session() as writing:
            writing.add(
                CaseEventRow(
                    event_key="e-pending", case_id=CASE_ID, loan_id=LOAN_ID, kind="note", at="now"
                )
            )
            writing.flush()
            with ThreadPoolExecutor(max_workers=1) as pool:
                # Before reads had an engine of their own, this waited out the writer (up to
                # the 30 s busy timeout): every read queued behind every write.
                read = pool.submit(store.get, CaseRow, CASE_ID)
                case = read.result(timeout=5)
                events = pool.submit(store.events_of_case, CASE_ID).result(timeout=5)
        assert case is not None and case.case_id == CASE_ID
        # The read saw the database as it was, without the uncommitted row.
        assert events == []
        assert [row.event_key for row in store.events_of_case(CASE_ID)] == ["e-pending"]
    finally:
        store.dispose()


def test_a_writer_of_another_process_takes_the_lock_once_it_is_free(tmp_path: Path) -> None:
    # Another process's store: its writer cannot queue in this one's pool, it polls SQLite's
    # lock, with a busy timeout of a few milliseconds, until the lock is free.
    store = sqlite_store(tmp_path)
    other = Store.from_url(f"sqlite:///{tmp_path / 'collections.db'}")
    activities = CollectionActivities(store, tmp_path / "evidence", WebhookNotifier({}))
    activities.prepare_case(prepare_request())
    released = threading.Event()
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            with store.session() as writing:
                writing.add(
                    CaseEventRow(
                        event_key="e-1", case_id=CASE_ID, loan_id=LOAN_ID, kind="note", at="1"
                    )
                )
                writing.flush()
                waiting = pool.submit(
                    lambda: (
                        other.insert_if_absent(
                            CaseEventRow(
                                event_key="e-2",
                                case_id=CASE_ID,
                                loan_id=LOAN_ID,
                                kind="note",
                                at="2",
                            )
                        )
                        and released.is_set()
                    )
                )
                # Held for a hundred times the busy timeout: the other writer is still trying.
                done, _ = wait([waiting], timeout=0.3)
                assert done == set()
                released.set()
            assert waiting.result(timeout=10) is True
        # It waited a hundred times longer than SQLite's own wait: the store tried again.
        with other.engine.connect() as connection:
            busy_ms = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
        assert busy_ms == WRITER_BUSY_TIMEOUT_MS < 300
        assert [row.event_key for row in store.events_of_case(CASE_ID)] == ["e-1", "e-2"]
    finally:
        other.dispose()
        store.dispose()


def test_cases_of_one_borrower_opened_at_once_record_the_borrower_once(store: Store) -> None:
    # An import opens a borrower's loans together: on PostgreSQL their preparations race to
    # insert the borrower's row; the losers write again and find it.
    activities = CollectionActivities(store, Path("unused-evidence"), WebhookNotifier({}))
    opened = threading.Barrier(8)

    def prepare(number: int) -> str | None:
        request = prepare_request(
            case_id=f"case-{number}",
            case=case_input(loan_id=f"L-RACE-{number}"),
            workflow_id=f"collection-L-RACE-{number}",
        )
        opened.wait()
        return activities.prepare_case(request).opened_at

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(prepare, range(8)))
    assert results == [utc_iso(OPENED_AT)] * 8
    assert len(rows(store, CaseRow)) == 8
    [borrower_row] = rows(store, BorrowerRow)
    assert borrower_row.borrower_id == borrower().borrower_id
