"""Traces leave over OTLP (HTTP/protobuf) to the collector `OTEL_EXPORTER_OTLP_ENDPOINT` names,
and only then: a provider's calls to Twilio's fake on loopback, exported to a fake collector on
loopback, with no borrower's number in them. The whole trace of a case: tests/e2e/test_traces.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

from activities.providers.twilio import TwilioSms
from runtime import tracing
from tests.helpers.activity_requests import PHONE
from tests.helpers.cli import run_cli
from tests.helpers.fake_vendors import FakeTwilio, serving
from tests.helpers.otlp import serving_collector
from tests.helpers.providers import ACCOUNT_SID, AUTH_TOKEN, message


@pytest.fixture
def no_tracing_left() -> Iterator[None]:
    assert tracing.active() is None
    yield
    tracing.stop_tracing()


def test_tracing_is_off_without_an_endpoint(
    monkeypatch: pytest.MonkeyPatch, no_tracing_left: None
) -> None:
    monkeypatch.delenv(tracing.ENDPOINT_ENV, raising=False)
    assert tracing.start_tracing("collections-worker") is None
    assert tracing.active() is None
    assert tracing.client_interceptors() == []
    assert not HTTPXClientInstrumentor().is_instrumented_by_opentelemetry


def test_an_endpoint_that_is_no_http_address_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, no_tracing_left: None
) -> None:
    monkeypatch.setenv(tracing.ENDPOINT_ENV, "localhost:4318")
    with pytest.raises(tracing.TracingConfigError, match=r"^OTEL_EXPORTER_OTLP_ENDPOINT: 'loc"):
        tracing.start_tracing("collections-worker")
    assert tracing.active() is None
    # The command line says so and exits 2, before it connects to anything.
    done = run_cli("status", "L-1001")
    assert done.returncode == 2
    assert "invalid configuration: OTEL_EXPORTER_OTLP_ENDPOINT" in done.stderr


def test_a_providers_calls_are_exported_over_otlp_without_their_query(
    monkeypatch: pytest.MonkeyPatch, no_tracing_left: None
) -> None:
    with serving_collector() as collector, serving(FakeTwilio(ACCOUNT_SID, AUTH_TOKEN)) as fake:
        monkeypatch.setenv(tracing.ENDPOINT_ENV, collector.url)
        monkeypatch.setenv(tracing.SERVICE_NAME_ENV, "collections-worker-eu")
        assert tracing.start_tracing("collections-worker") is not None
        with httpx.Client(timeout=5) as http:
            sms = TwilioSms(
                account_sid=ACCOUNT_SID,
                auth_token=AUTH_TOKEN,
                from_number="+15005550006",
                api_base=fake.url,
                client=http,
            )
            sms.deliver(message())
            # The lookup asks Twilio by the borrower's number, in the query.
            assert sms.find_sent(message(), since=datetime.now(UTC)) is not None
        tracing.stop_tracing()
        (get,) = fake.of("GET")
        assert get.query["To"] == PHONE

    assert sorted(collector.names()) == ["GET", "POST"]
    assert set(collector.content_types) == {"application/x-protobuf"}
    assert {span.service for span in collector.spans} == {"collections-worker-eu"}
    assert {span.attributes["http.url"] for span in collector.spans} == {sms.url}
    digits = PHONE.removeprefix("+")[-11:]
    assert not [span for span in collector.spans if digits in repr(span)]
    # Stopped, tracing leaves httpx as it found it.
    assert tracing.active() is None
    assert not HTTPXClientInstrumentor().is_instrumented_by_opentelemetry
