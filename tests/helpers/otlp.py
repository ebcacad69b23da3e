"""A fake OpenTelemetry collector on loopback: it takes OTLP over HTTP/protobuf (`POST
/v1/traces`, as the exporter sends it when `OTEL_EXPORTER_OTLP_ENDPOINT` points here) and keeps
the spans it decoded."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


@dataclass(frozen=True)
class ExportedSpan:
    service: str
    name: str
    trace_id: str  # hex
    attributes: dict[str, str]


@dataclass
class Collector:
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    spans: list[ExportedSpan] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)

    def names(self) -> list[str]:
        with self.lock:
            return [span.name for span in self.spans]


class CollectorHandler(BaseHTTPRequestHandler):
    server: CollectorServer

    def do_POST(self) -> None:
        collector = self.server.collector
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path != "/v1/traces":
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        request = ExportTraceServiceRequest.FromString(body)
        with collector.lock:
            collector.content_types.append(self.headers.get("Content-Type", ""))
            collector.spans.extend(spans_of(request))
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def spans_of(request: ExportTraceServiceRequest) -> list[ExportedSpan]:
    found = []
    for resource_spans in request.resource_spans:
        resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                found.append(
                    ExportedSpan(
                        service=resource.get("service.name", ""),
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        attributes={a.key: a.value.string_value for a in span.attributes},
                    )
                )
    return found


class CollectorServer(ThreadingHTTPServer):
    daemon_threads = True
    collector: Collector


@contextmanager
def serving_collector() -> Iterator[Collector]:
    server = CollectorServer(("127.0.0.1", 0), CollectorHandler)
    server.collector = Collector(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.collector
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
