"""A loopback HTTP server that speaks each vendor's wire format (Twilio's Messages API,
SendGrid's Mail Send, our signed JSON webhook), the vendors' clients on it, and the requests
of `send_notice` over them.

The server records every request as it arrived (path, headers, raw body) and answers with the
scripted responses in order."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from temporalio.exceptions import ApplicationError

from activities.case_activities import CollectionActivities
from activities.providers.base import OutboundMessage
from activities.providers.sendgrid import SendGridEmail
from activities.providers.twilio import TwilioSms
from contracts import ContactRequest, PrepareRequest
from domain.case import Borrower, CaseInput
from tests.helpers.activity_requests import CASE_ID, EMAIL, LOAN_ID, PHONE

ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"


AUTH_TOKEN = "twilio-auth-token"


SENDGRID_KEY = "SG.test-key"


SECRET = "webhook-secret"


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    # Seconds to wait before answering (a provider slower than our timeout).
    delay: float = 0.0


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    method: str = "POST"
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def form(self) -> dict[str, str]:
        return {name: values[0] for name, values in parse_qs(self.body.decode()).items()}

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return {key.lower(): value for key, value in self.headers.items()}.get(name.lower())


@dataclass
class Loopback:
    """Answers with `script` in order, then with `default`; records every request."""

    url: str = ""
    script: list[Reply] = field(default_factory=list)
    default: Reply = field(default_factory=Reply)
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_reply(self) -> Reply:
        with self.lock:
            return self.script.pop(0) if self.script else self.default


class LoopbackHandler(BaseHTTPRequestHandler):
    server: LoopbackServer

    def do_POST(self) -> None:
        self.answer()

    def do_GET(self) -> None:
        # A provider's listing, read before sending again what may have reached it.
        self.answer()

    def answer(self) -> None:
        loopback = self.server.loopback
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        reply = loopback.next_reply()
        with loopback.lock:
            loopback.seen.append(
                Seen(self.path, dict(self.headers), body, reply.status, self.command)
            )
        if reply.delay:
            time.sleep(reply.delay)
        payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (the timeout test)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True
    loopback: Loopback


@contextmanager
def serving_loopback() -> Iterator[Loopback]:
    server = LoopbackServer(("127.0.0.1", 0), LoopbackHandler)
    server.loopback = Loopback(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.loopback
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def twilio(loopback: Loopback, http: httpx.Client, **changes: Any) -> TwilioSms:
    options: dict[str, Any] = {
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "from_number": "+15005550006",
        "status_callback": "https://collect.example.com/twilio/status",
        "api_base": loopback.url,
        "client": http,
        **changes,
    }
    return TwilioSms(**options)


def sendgrid(loopback: Loopback, http: httpx.Client) -> SendGridEmail:
    return SendGridEmail(
        api_key=SENDGRID_KEY,
        from_email="collections@lender.example",
        from_name="Lender",
        api_base=loopback.url,
        client=http,
    )


def twilio_created(sid: str = "SM0001") -> Reply:
    return Reply(201, {"sid": sid, "status": "queued"})


def twilio_error(status: int, code: int) -> Reply:
    return Reply(status, {"code": code, "message": "refused", "status": status})


def borrower(**changes: Any) -> Borrower:
    return replace(
        Borrower(
            borrower_id="B-77",
            name="王小明",
            phone=PHONE,
            email=EMAIL,
            address="上海市",
            locale="zh-CN",
        ),
        **changes,
    )


def prepare(
    activities: CollectionActivities, case_id: str = CASE_ID, loan_id: str = LOAN_ID
) -> None:
    activities.prepare_case(
        PrepareRequest(
            case_id=case_id,
            workflow_id=f"collection-{loan_id}",
            case=CaseInput(
                loan_id=loan_id,
                borrower=borrower(),
                currency="CNY",
                overdue_amount_minor=500_000,
                due_date="2026-11-01",
            ),
            opened_at="2026-11-05T01:00:00+00:00",
        )
    )


def contact(
    attempt_id: str, channel: str = "sms", case_id: str = CASE_ID, loan_id: str = LOAN_ID
) -> ContactRequest:
    return ContactRequest(
        case_id=case_id,
        attempt_id=attempt_id,
        loan_id=loan_id,
        channel=channel,
        template="reminder_friendly",
        days_past_due=3,
        currency="CNY",
        outstanding_minor=500_000,
        scheduled_at="2026-11-04T02:00:00+00:00",
    )


def send_error(activities: CollectionActivities, request: ContactRequest) -> ApplicationError:
    with pytest.raises(ApplicationError) as excinfo:
        activities.send_notice(request)
    return excinfo.value


def message(channel: str = "sms", key: str = "attempt-1") -> OutboundMessage:
    return OutboundMessage(
        idempotency_key=key, channel=channel, to=PHONE if channel == "sms" else EMAIL, body="hi"
    )
