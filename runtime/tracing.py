"""Traces: OpenTelemetry spans of the Temporal SDK's calls and of outgoing HTTP, exported over
OTLP (HTTP/protobuf) when `OTEL_EXPORTER_OTLP_ENDPOINT` is set; off otherwise.

The spans come from the SDK's `TracingInterceptor` (on the client that `settings.connect_client`
connects, and on the worker of `create_worker`) and from the httpx instrumentation (the
providers' calls). The interceptor carries the trace in Temporal headers: a case started by a
traced client has one trace from the start through each activity to the provider's HTTP
request. A message (an update or a signal) sent by a traced client continues the sender's trace
into the case, linked to the case's own trace, rather than the other way round: whoever sent a
payment sees where it went.

Only one tracing set-up is active in a process (the httpx instrumentation is process-wide):
`start_tracing` makes it, `active()` answers it, `stop_tracing` flushes and ends it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import opentelemetry.trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor, RequestInfo
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor, TracingWorkflowInboundInterceptor

# The SDK's own way to attach a context in a workflow: it copes with a handler abandoned by an
# evicted case, whose context is detached wherever garbage collection runs.
from temporalio.contrib.opentelemetry._context import attached_context
from temporalio.worker import (
    HandleSignalInput,
    HandleUpdateInput,
    WorkflowInterceptorClassInput,
)

ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
SERVICE_NAME_ENV = "OTEL_SERVICE_NAME"
# The URL attributes an httpx span may carry, by semantic-convention version.
URL_ATTRIBUTES = ("http.url", "url.full")


class TracingConfigError(ValueError):
    """The environment asks for traces in a way that cannot work; the message names the
    variable."""


@dataclass(frozen=True)
class Tracing:
    """The active set-up: the provider that exports the spans and the SDK's interceptor."""

    provider: TracerProvider
    interceptor: TracingInterceptor


_active: Tracing | None = None


def active() -> Tracing | None:
    return _active


def start_tracing(service_name: str, processor: SpanProcessor | None = None) -> Tracing | None:
    """Tracing for this process, unless one is already active (then that one).

    Without `processor`, the OTLP exporter when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (it reads
    the standard `OTEL_EXPORTER_OTLP_*` variables itself), else None: tracing is off. Tests
    pass a processor of their own. `OTEL_SERVICE_NAME` overrides `service_name`.
    """
    global _active
    if _active is not None:
        return _active
    if processor is None:
        endpoint = os.environ.get(ENDPOINT_ENV, "").strip()
        if not endpoint:
            return None
        if urlsplit(endpoint).scheme not in ("http", "https") or not urlsplit(endpoint).netloc:
            raise TracingConfigError(f"{ENDPOINT_ENV}: {endpoint!r} is not an http(s) address")
        processor = BatchSpanProcessor(OTLPSpanExporter())
    name = os.environ.get(SERVICE_NAME_ENV, "").strip() or service_name
    # Flushed at exit (atexit) in an embedding; the project's processes leave through
    # os._exit, past atexit, and call `stop_tracing` first.
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    provider.add_span_processor(processor)
    HTTPXClientInstrumentor().instrument(tracer_provider=provider, request_hook=_url_without_query)
    _active = Tracing(provider, CaseTracingInterceptor(provider.get_tracer(__name__)))
    return _active


def stop_tracing() -> None:
    """Export the spans still buffered and end tracing in this process (no-op when off)."""
    global _active
    if _active is None:
        return
    HTTPXClientInstrumentor().uninstrument()
    _active.provider.shutdown()
    _active = None


def client_interceptors() -> list[TracingInterceptor]:
    """What `Client.connect` takes when tracing is on (and the worker inherits)."""
    return [] if _active is None else [_active.interceptor]


def worker_interceptors(client: Client) -> list[TracingInterceptor]:
    """The interceptor a worker needs itself: none if tracing is off or its client has it."""
    if _active is None:
        return []
    on_client = client.config()["interceptors"]
    return (
        [] if any(isinstance(i, TracingInterceptor) for i in on_client) else [_active.interceptor]
    )


def _url_without_query(span: opentelemetry.trace.Span, request: RequestInfo) -> None:
    """Keep a provider call's query out of its span: a vendor's lookup asks by phone number or
    email address, and traces, like logs, carry no personal data."""
    attributes = getattr(span, "attributes", None) or {}
    bare = urlunsplit(urlsplit(str(request.url))._replace(query="", fragment=""))
    for key in URL_ATTRIBUTES:
        if key in attributes:
            span.set_attribute(key, bare)


class CaseTracingInterceptor(TracingInterceptor):
    """The SDK's interceptor, with the case's messages traced as `MessageTracingInterceptor`."""

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[TracingWorkflowInboundInterceptor]:
        super().workflow_interceptor_class(input)
        return MessageTracingInterceptor


class MessageTracingInterceptor(TracingWorkflowInboundInterceptor):
    """An update or signal that carries its sender's trace is traced there: its spans in the
    case (`ValidateUpdate:`, `HandleUpdate:`, `HandleSignal:` and whatever the handler starts)
    are children of the sender's span, linked to the case's own trace. The SDK does it the other
    way round (children of the case's start, linked to the sender), which leaves the sender's
    trace ending at the server. A message without one (Temporal's HTTP API, an untraced
    client) is traced as the SDK does."""

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        with self._sender_trace(input.headers) as traced:
            if not traced:
                return super().handle_update_validator(input)
            self._completed_span(
                f"ValidateUpdate:{input.update}",
                link_context_carrier=self._load_workflow_context_carrier(),
                kind=opentelemetry.trace.SpanKind.SERVER,
            )
            return self.next.handle_update_validator(input)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        with self._sender_trace(input.headers) as traced:
            if not traced:
                return await super().handle_update_handler(input)
            self._completed_span(
                f"HandleUpdate:{input.update}",
                link_context_carrier=self._load_workflow_context_carrier(),
                kind=opentelemetry.trace.SpanKind.SERVER,
            )
            return await self.next.handle_update_handler(input)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        with self._sender_trace(input.headers) as traced:
            if not traced:
                return await super().handle_signal(input)
            self._completed_span(
                f"HandleSignal:{input.signal}",
                link_context_carrier=self._load_workflow_context_carrier(),
                kind=opentelemetry.trace.SpanKind.SERVER,
            )
            return await self.next.handle_signal(input)

    @contextmanager
    def _sender_trace(self, headers: Mapping[str, Payload]) -> Iterator[bool]:
        """The sender's trace made current, if the message carries one (True), else nothing."""
        header = headers.get(self.header_key)
        carrier = self.payload_converter.from_payloads([header])[0] if header else None
        if not carrier:
            yield False
            return
        context = self._set_on_context(self.text_map_propagator.extract(carrier))
        with attached_context(context):
            yield True
