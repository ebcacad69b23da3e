"""Stateful fakes of the paid vendors, served over real HTTP on loopback, speaking their wire
formats: Twilio's Messages resource (create and list) and SendGrid's Mail Send with its Email
Activity API. Unlike the scripted loopback of tests/test_providers.py they keep the messages
they accepted, so a test can ask what the borrower would have received.

Faults are queued per request kind: a POST may be dropped after the message was recorded (the
vendor has it, the answer is lost) or before (it never arrived); a GET may answer an error
status. A dropped request closes the connection without an answer, as a dying network or a
vendor's crashed front end does.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

# What a queued POST fault does.
DROP_AFTER_RECORDING = "drop_after_recording"
DROP_BEFORE_RECORDING = "drop_before_recording"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: bytes
    # The W3C trace context the caller sent (a traced worker's provider call), if any.
    traceparent: str | None = None


@dataclass
class GetFault:
    status: int
    headers: dict[str, str] = field(default_factory=dict)


class FakeVendor:
    """What both fakes share: the request log, the fault queues and the HTTP plumbing."""

    def __init__(self) -> None:
        self.url = ""
        self.requests: list[Request] = []
        self.post_faults: list[str] = []
        self.get_faults: list[GetFault] = []
        self.lock = threading.Lock()

    def of(self, method: str) -> list[Request]:
        with self.lock:
            return [request for request in self.requests if request.method == method]

    def handle(self, handler: VendorHandler, method: str) -> None:
        split = urlsplit(handler.path)
        query = {name: values[0] for name, values in parse_qs(split.query).items()}
        body = handler.rfile.read(int(handler.headers.get("Content-Length", "0")))
        with self.lock:
            traceparent = handler.headers.get("traceparent")
            self.requests.append(Request(method, split.path, query, body, traceparent))
            post_fault = self.post_faults.pop(0) if method == "POST" and self.post_faults else None
            get_fault = self.get_faults.pop(0) if method == "GET" and self.get_faults else None
        if post_fault == DROP_BEFORE_RECORDING:
            handler.drop()
            return
        if get_fault is not None:
            handler.reply(get_fault.status, {"message": "unavailable"}, get_fault.headers)
            return
        status, payload, headers = self.answer(handler, method, split.path, query, body)
        if post_fault == DROP_AFTER_RECORDING:
            handler.drop()
            return
        handler.reply(status, payload, headers)

    def answer(
        self,
        handler: VendorHandler,
        method: str,
        path: str,
        query: dict[str, str],
        body: bytes,
    ) -> tuple[int, Any, dict[str, str]]:
        raise NotImplementedError


class VendorHandler(BaseHTTPRequestHandler):
    server: VendorServer

    def do_POST(self) -> None:
        self.server.vendor.handle(self, "POST")

    def do_GET(self) -> None:
        self.server.vendor.handle(self, "GET")

    def reply(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def drop(self) -> None:
        """Close the connection without an answer."""
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class VendorServer(ThreadingHTTPServer):
    daemon_threads = True
    vendor: FakeVendor


@contextmanager
def serving(vendor: FakeVendor) -> Iterator[FakeVendor]:
    server = VendorServer(("127.0.0.1", 0), VendorHandler)
    server.vendor = vendor
    vendor.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield vendor
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def basic_auth(handler: BaseHTTPRequestHandler) -> tuple[str, str] | None:
    header = handler.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password


# -- Twilio ---------------------------------------------------------------------------------


class FakeTwilio(FakeVendor):
    """`POST /2010-04-01/Accounts/{Sid}/Messages.json` creates a message (status `queued`, no
    `date_sent` until `send_all`); `GET` of the same path lists them, newest `date_sent`
    first and the unsent ones before all (they have none), filtered by `To`, `From` and
    `DateSent` / `DateSent>` / `DateSent<` (GMT dates), paged by `PageSize` and `Page` with
    Twilio's `next_page_uri`."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[dict[str, Any]] = []

    @property
    def path(self) -> str:
        return f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    def to(self, number: str) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.messages if m["to"] == number]

    def add(self, *, to: str, body: str, sent_at: datetime | None) -> None:
        """A message made before the test (another attempt, another day)."""
        with self.lock:
            self.messages.append(self._message(to, "+15005550006", body, sent_at))

    def send_all(self, at: datetime) -> None:
        """Twilio hands the queued messages to the carrier: they get their `date_sent`."""
        with self.lock:
            for message in self.messages:
                if message["date_sent"] is None:
                    message["status"] = "sent"
                    message["date_sent"] = format_datetime(at)
                    message["_sent_at"] = at

    def _message(self, to: str, sender: str, body: str, sent_at: datetime | None) -> dict[str, Any]:
        sid = f"SM{len(self.messages) + 1:032x}"
        created = format_datetime(sent_at or datetime.now(UTC))
        return {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": to,
            "from": sender,
            "body": body,
            "status": "queued" if sent_at is None else "sent",
            "direction": "outbound-api",
            "date_created": created,
            "date_updated": created,
            "date_sent": None if sent_at is None else format_datetime(sent_at),
            "error_code": None,
            "uri": f"{self.path[:-5]}/{sid}.json",
            "_sent_at": sent_at,
        }

    def answer(
        self,
        handler: VendorHandler,
        method: str,
        path: str,
        query: dict[str, str],
        body: bytes,
    ) -> tuple[int, Any, dict[str, str]]:
        if basic_auth(handler) != (self.account_sid, self.auth_token):
            return 401, {"code": 20003, "message": "Authenticate", "status": 401}, {}
        if path != self.path:
            return 404, {"code": 20404, "message": "not found", "status": 404}, {}
        if method == "POST":
            form = {name: values[0] for name, values in parse_qs(body.decode()).items()}
            sender = form.get("From") or form.get("MessagingServiceSid")
            if not form.get("To") or not form.get("Body") or not sender:
                return 400, {"code": 21604, "message": "To, Body and From needed"}, {}
            with self.lock:
                message = self._message(form["To"], sender, form["Body"], None)
                self.messages.append(message)
            return 201, public(message), {}
        return 200, self._page(query), {}

    def _page(self, query: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            found = [m for m in self.messages if matches(m, query)]
        # Newest date_sent first; unsent messages (no date_sent) before every sent one.
        unsent = [m for m in found if m["_sent_at"] is None]
        sent = sorted(
            (m for m in found if m["_sent_at"] is not None),
            key=lambda m: m["_sent_at"],
            reverse=True,
        )
        ordered = unsent + sent
        size = int(query.get("PageSize", "50"))
        page = int(query.get("Page", "0"))
        chunk = ordered[page * size : (page + 1) * size]
        filters = {k: v for k, v in query.items() if k not in ("Page", "PageToken")}
        more = (page + 1) * size < len(ordered)
        next_page = (
            f"{self.path}?{urlencode({**filters, 'Page': page + 1, 'PageToken': f'PA{page + 1}'})}"
            if more
            else None
        )
        return {
            "messages": [public(m) for m in chunk],
            "page": page,
            "page_size": size,
            "first_page_uri": f"{self.path}?{urlencode({**filters, 'Page': 0})}",
            "next_page_uri": next_page,
            "previous_page_uri": None,
            "uri": f"{self.path}?{urlencode(query)}",
        }


def public(message: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in message.items() if not name.startswith("_")}


# Twilio's DateSent filters compare GMT dates: on, on or after, on or before.
DATE_FILTERS: dict[str, Callable[[date, date], bool]] = {
    "DateSent": lambda day, on: day == on,
    "DateSent>": lambda day, on: day >= on,
    "DateSent<": lambda day, on: day <= on,
}


def matches(message: dict[str, Any], query: dict[str, str]) -> bool:
    if "To" in query and message["to"] != query["To"]:
        return False
    if "From" in query and message["from"] != query["From"]:
        return False
    sent_at: datetime | None = message["_sent_at"]
    for name, keep in DATE_FILTERS.items():
        if name not in query:
            continue
        # A message with no date_sent has none to compare: every date filter drops it.
        if sent_at is None or not keep(
            sent_at.astimezone(UTC).date(), date.fromisoformat(query[name])
        ):
            return False
    return True


# -- SendGrid -------------------------------------------------------------------------------

QUERY_CLAUSE = re.compile(r"""(unique_args\['([^']+)'\]|to_email|msg_id|status)="([^"]*)"$""")


class FakeSendGrid(FakeVendor):
    """`POST /v3/mail/send` (Bearer key, 202 with `X-Message-Id`) and the Email Activity API,
    `GET /v3/messages?limit=N&query=...`, where a query is clauses `unique_args['k']="v"`,
    `to_email="..."`, `msg_id="..."` or `status="..."` joined by ` AND `; anything else is a
    400, as SendGrid refuses a query it cannot parse. Accepted messages are listed at once
    unless `listed_after_acceptance` is False (the Email Activity lags behind Mail Send);
    `publish` then lists them."""

    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key
        self.messages: list[dict[str, Any]] = []
        self.listed_after_acceptance = True

    def publish(self) -> None:
        with self.lock:
            for message in self.messages:
                message["_listed"] = True

    def answer(
        self,
        handler: VendorHandler,
        method: str,
        path: str,
        query: dict[str, str],
        body: bytes,
    ) -> tuple[int, Any, dict[str, str]]:
        if handler.headers.get("Authorization") != f"Bearer {self.api_key}":
            return 401, {"errors": [{"message": "authorization required"}]}, {}
        if method == "POST" and path == "/v3/mail/send":
            mail = json.loads(body)
            [personalization] = mail["personalizations"]
            [recipient] = personalization["to"]
            with self.lock:
                number = len(self.messages) + 1
                x_message_id = f"XMsg{number:018d}"
                self.messages.append(
                    {
                        "msg_id": f"{x_message_id}.filterdrecv-p3mdw1-{number}.0",
                        "from_email": mail["from"]["email"],
                        "to_email": recipient["email"],
                        "subject": mail["subject"],
                        "status": "processed",
                        "opens_count": 0,
                        "clicks_count": 0,
                        "last_event_time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "_unique_args": dict(mail.get("custom_args", {})),
                        "_listed": self.listed_after_acceptance,
                    }
                )
            return 202, None, {"X-Message-Id": x_message_id}
        if method == "GET" and path == "/v3/messages":
            if "limit" not in query:
                return 400, {"errors": [{"field": "limit", "message": "is required"}]}, {}
            clauses = [QUERY_CLAUSE.match(part) for part in query.get("query", "").split(" AND ")]
            if not all(clauses):
                return 400, {"errors": [{"field": "query", "message": "invalid query"}]}, {}
            with self.lock:
                found = [
                    m
                    for m in self.messages
                    if m["_listed"] and all(clause_holds(m, c) for c in clauses if c is not None)
                ]
            return 200, {"messages": [public(m) for m in found[: int(query["limit"])]]}, {}
        return 404, {"errors": [{"message": "not found"}]}, {}


def clause_holds(message: dict[str, Any], clause: re.Match[str]) -> bool:
    field_name, arg, value = clause.group(1), clause.group(2), clause.group(3)
    if arg is not None:
        return bool(message["_unique_args"].get(arg) == value)
    return bool(message[field_name] == value)
