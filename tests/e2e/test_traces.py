"""Traces on the dev server, exported to memory: a case opened and a payment sent by the command
line (through `settings.connect_client`, as `starter.py` connects), a real worker with Twilio's
fake on loopback. The contact's trace runs from the command that opened the case through its
activity to the provider's HTTP request (whose W3C header reaches the provider); the payment's
from `starter.py pay` into the case's update handler.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import worker as worker_module
from cli import main as cli_main
from runtime import settings, tracing
from runtime.tracing import ENDPOINT_ENV
from tests.helpers.cases import borrower_days_ago
from tests.helpers.eventually import eventually
from tests.helpers.fake_vendors import FakeTwilio, serving
from tests.helpers.otlp import serving_collector
from tests.helpers.processes import process_env, run_process
from tests.helpers.providers import ACCOUNT_SID, AUTH_TOKEN
from tests.helpers.temporal import CaseWorld, DevServer

PHONE = "+8613800138000"


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    """Tracing on for this process, every span kept in memory as it ends."""
    exporter = InMemorySpanExporter()
    started = tracing.start_tracing("collections-test", SimpleSpanProcessor(exporter))
    assert started is not None and started is tracing.active()
    yield exporter
    tracing.stop_tracing()


@pytest.fixture
def twilio(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTwilio]:
    with serving(FakeTwilio(ACCOUNT_SID, AUTH_TOKEN)) as fake:
        assert isinstance(fake, FakeTwilio)
        for name, value in {
            "SMS_PROVIDER": "twilio",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_FROM_NUMBER": "+15005550006",
            "TWILIO_API_BASE": fake.url,
        }.items():
            monkeypatch.setenv(name, value)
        yield fake


def ancestry(span: ReadableSpan, spans: list[ReadableSpan]) -> list[str]:
    """The names of `span`'s ancestors among `spans`, nearest first."""
    by_id = {s.context.span_id: s for s in spans}
    names = []
    parent = span.parent
    while parent is not None and parent.span_id in by_id:
        found = by_id[parent.span_id]
        names.append(found.name)
        parent = found.parent
    return names


def named(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    (span,) = [s for s in spans if s.name == name]
    return span


async def test_a_contact_and_a_payment_are_each_one_trace_from_the_command_line(
    dev_server: DevServer,
    case_world: CaseWorld,
    exported: InMemorySpanExporter,
    twilio: FakeTwilio,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", dev_server.address)
    loan_id = f"L-TRACE-{case_world.task_queue[-8:]}"
    worker_module.check_case_database()
    # The worker as `worker.py` runs it: its client connected as every process connects.
    worker = worker_module.create_worker(await settings.connect_client())
    async with worker:
        # Four days overdue under `demo` (no contact window): its SMS reminder goes at once.
        opened = await cli_main.run(
            [
                *("open", "--loan-id", loan_id, "--borrower-id", "B-TRACE", "--phone", PHONE),
                *("--currency", "CNY", "--amount-minor", "500000", "--policy", "demo"),
                *("--due-date", borrower_days_ago(4).isoformat(), "--timezone", "Asia/Shanghai"),
            ]
        )
        assert opened == 0, capsys.readouterr().err
        await eventually(lambda: twilio.to(PHONE), seconds=60)
        await eventually(
            lambda: [s for s in exported.get_finished_spans() if s.name == "POST"], seconds=30
        )
        paid = await cli_main.run(
            [
                *("pay", loan_id, "--amount-minor", "500000", "--currency", "CNY"),
                *("--payment-id", "bank-trace-1"),
            ]
        )
        assert paid == 0, capsys.readouterr().err
    assert '"status": "paid"' in capsys.readouterr().out
    spans = list(exported.get_finished_spans())

    # The contact: the command's start of the case, the case's activity, the HTTP request.
    opening = named(spans, "StartWorkflow:CollectionCase")
    case_trace = opening.context.trace_id
    assert opening.parent is None and opening.kind is SpanKind.CLIENT
    request = named(spans, "POST")
    assert request.kind is SpanKind.CLIENT and request.attributes is not None
    assert str(request.attributes["http.url"]).startswith(f"{twilio.url}/2010-04-01/Accounts/")
    assert request.context.trace_id == case_trace
    chain = ancestry(request, spans)
    assert chain[:2] == ["RunActivity:send_notice", "StartActivity:send_notice"]
    assert chain[-1] == "StartWorkflow:CollectionCase"
    assert named(spans, "RunWorkflow:CollectionCase").context.trace_id == case_trace
    # The provider got the trace in the W3C header: its own traces can join this one.
    (sent,) = twilio.of("POST")
    assert sent.traceparent is not None
    assert sent.traceparent.split("-")[1:3] == [
        format(case_trace, "032x"),
        format(request.context.span_id, "016x"),
    ]

    # The payment: the command's update, validated and handled in the case, in one trace.
    sending = named(spans, "StartWorkflowUpdate:record_payment")
    assert sending.parent is None and sending.context.trace_id != case_trace
    for name in ("ValidateUpdate:record_payment", "HandleUpdate:record_payment"):
        handled = named(spans, name)
        assert handled.context.trace_id == sending.context.trace_id
        assert ancestry(handled, spans) == ["StartWorkflowUpdate:record_payment"]
        assert handled.attributes is not None
        assert handled.attributes["temporalWorkflowID"] == f"collection-{loan_id}"
        # Linked to the case's own trace, where its start and its contacts are.
        assert [link.context.trace_id for link in handled.links] == [case_trace]

    # No span carries the borrower's number.
    for span in spans:
        for value in (span.attributes or {}).values():
            assert "13800138000" not in str(value), span.name


async def test_starter_py_exports_its_spans_over_otlp_before_it_exits(
    dev_server: DevServer, case_world: CaseWorld
) -> None:
    with serving_collector() as collector:
        env = process_env(dev_server, "default") | {ENDPOINT_ENV: collector.url}
        code, _, err = await run_process(
            "starter.py",
            env,
            *("pay", "L-NO-SUCH-CASE", "--amount-minor", "100", "--currency", "CNY"),
            *("--payment-id", "bank-trace-2"),
        )
    assert code == 1 and "L-NO-SUCH-CASE" in err, err
    (sent,) = [span for span in collector.spans if span.name.startswith("StartWorkflowUpdate:")]
    assert sent.name == "StartWorkflowUpdate:record_payment"
    assert sent.service == "collections-cli"
