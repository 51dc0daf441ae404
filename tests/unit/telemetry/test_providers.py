"""The exporters the settings choose, and what each one delivers: the console, JSON lines in a file, OTLP
requests to a collector, or nothing at all (with trace context still flowing)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.propagate import inject
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter
from opentelemetry.sdk.trace.export import ConsoleSpanExporter

from cxops.config import Settings
from cxops.telemetry import Instruments, Telemetry, build_telemetry
from cxops.telemetry._jsonl import JsonLinesMetricExporter, JsonLinesSpanExporter
from cxops.telemetry.instruments import METER_NAME, REQUESTS
from cxops.telemetry.providers import exporters_for

SERVICE = "cxops-gateway"


def _settings(tmp_path: Path, **values) -> Settings:
    return Settings(home=tmp_path / "home", root=tmp_path, **values)


def _emit(telemetry: Telemetry) -> None:
    """One span and one request counted, then everything flushed and stopped."""
    with telemetry.tracer("test").start_as_current_span("canary.proxy", attributes={"cxops.model": "churn"}):
        pass
    Instruments(telemetry.meter(METER_NAME)).record_request(
        "churn", "3", "/v2/models/{name}/infer", 200, 0.01
    )
    telemetry.shutdown()


@pytest.mark.parametrize(
    ("exporter", "span_type", "metric_type"),
    [
        ("none", None, None),
        ("console", ConsoleSpanExporter, ConsoleMetricExporter),
        ("file", JsonLinesSpanExporter, JsonLinesMetricExporter),
        ("otlp", OTLPSpanExporter, OTLPMetricExporter),
    ],
)
def test_the_setting_chooses_the_exporters(tmp_path, exporter, span_type, metric_type) -> None:
    spans, metrics = exporters_for(_settings(tmp_path, otel_exporter=exporter), SERVICE)
    assert [type(e) for e in spans] == ([span_type] if span_type else [])
    assert [type(e) for e in metrics] == ([metric_type] if metric_type else [])


def test_otlp_targets_the_collectors_traces_and_metrics_paths(tmp_path) -> None:
    settings = _settings(tmp_path, otel_exporter="otlp", otel_endpoint="http://collector.monitoring:4318/")
    (spans,), (metrics,) = exporters_for(settings, SERVICE)
    assert spans._endpoint == "http://collector.monitoring:4318/v1/traces"
    assert metrics._endpoint == "http://collector.monitoring:4318/v1/metrics"


def test_the_resource_names_service_version_and_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    local = build_telemetry(_settings(tmp_path), SERVICE).tracer_provider.resource.attributes
    assert (local["service.name"], local["service.version"], local["deployment.environment"]) == (
        SERVICE,
        "0.1.0",
        "local",
    )
    monkeypatch.setenv(
        "OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=production,k8s.namespace.name=cxops"
    )
    telemetry = build_telemetry(
        _settings(tmp_path, canary_backend="kubernetes"), "cxops-model-churn", version="7"
    )
    resource = telemetry.tracer_provider.resource.attributes
    assert resource["service.name"] == "cxops-model-churn" and resource["service.version"] == "7"
    assert resource["deployment.environment"] == "production"
    assert resource["k8s.namespace.name"] == "cxops"


def test_console_prints_spans_and_metrics(tmp_path, capsys) -> None:
    _emit(build_telemetry(_settings(tmp_path, otel_exporter="console"), SERVICE))
    out = capsys.readouterr().out
    assert '"name": "canary.proxy"' in out
    assert f'"name": "{REQUESTS}"' in out


def test_file_writes_one_json_document_per_line(tmp_path) -> None:
    settings = _settings(tmp_path, otel_exporter="file")
    _emit(build_telemetry(settings, SERVICE))
    path = settings.home_dir / "telemetry" / f"{SERVICE}.jsonl"  # the default file of the service
    documents = [json.loads(line) for line in path.read_text().splitlines()]
    (span,) = [d for d in documents if "context" in d]
    assert span["name"] == "canary.proxy" and span["attributes"] == {"cxops.model": "churn"}
    assert span["resource"]["attributes"]["service.name"] == SERVICE
    (batch,) = [d for d in documents if "resource_metrics" in d]
    names = [m["name"] for s in batch["resource_metrics"][0]["scope_metrics"] for m in s["metrics"]]
    assert REQUESTS in names
    assert len(documents) == 2

    # A file named in the settings is appended to, by every process that is given it.
    shared = tmp_path / "shared.jsonl"
    for _ in range(2):
        _emit(build_telemetry(_settings(tmp_path, otel_exporter="file", otel_file=shared), SERVICE))
    assert [json.loads(line).get("name") for line in shared.read_text().splitlines()].count(
        "canary.proxy"
    ) == 2


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    """A stand-in OTLP/HTTP collector on a free loopback port: its URL and the requests it received."""
    received: list[tuple[str, str, bytes]] = []
    handler = type("Collector", (_Collector,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def test_otlp_sends_spans_and_metrics_to_the_collector(tmp_path, collector) -> None:
    url, received = collector
    _emit(build_telemetry(_settings(tmp_path, otel_exporter="otlp", otel_endpoint=url), SERVICE))
    by_path = {path: (content_type, body) for path, content_type, body in received}
    assert set(by_path) == {"/v1/traces", "/v1/metrics"}
    assert {content_type for content_type, _ in by_path.values()} == {"application/x-protobuf"}

    traces = ExportTraceServiceRequest.FromString(by_path["/v1/traces"][1])
    (resource_spans,) = traces.resource_spans
    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}["service.name"]
    assert service == SERVICE
    assert [s.name for scope in resource_spans.scope_spans for s in scope.spans] == ["canary.proxy"]
    metrics = ExportMetricsServiceRequest.FromString(by_path["/v1/metrics"][1])
    names = [m.name for r in metrics.resource_metrics for s in r.scope_metrics for m in s.metrics]
    assert REQUESTS in names


def test_none_exports_nothing_but_trace_context_still_flows(tmp_path, capsys) -> None:
    settings = _settings(tmp_path)
    assert settings.otel_exporter == "none"
    telemetry = build_telemetry(settings, SERVICE)
    with telemetry.tracer("test").start_as_current_span("canary.upstream") as span:
        headers: dict[str, str] = {}
        inject(headers)
    context = span.get_span_context()
    assert context.is_valid and context.trace_flags.sampled
    assert headers["traceparent"].startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")
    _emit(telemetry)
    assert capsys.readouterr().out == ""
    assert not (settings.home_dir / "telemetry").exists()


def test_configure_telemetry_sets_the_global_providers_once(tmp_path) -> None:
    """In a child process: the global providers are set once per process, for good."""
    code = f"""
from opentelemetry import metrics, trace
from cxops.config import Settings
from cxops.telemetry import configure_telemetry

early = trace.get_tracer("early")  # taken before the providers exist
settings = Settings(home={str(tmp_path / "home")!r}, otel_exporter="file")
first = configure_telemetry(settings, "cxops-gateway")
again = configure_telemetry(settings, "cxops-api")
assert again is first
assert trace.get_tracer_provider() is first.tracer_provider
assert metrics.get_meter_provider() is first.meter_provider
with early.start_as_current_span("early.span"):
    pass
"""  # the exit flushes the file exporter
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    lines = (tmp_path / "home" / "telemetry" / "cxops-gateway.jsonl").read_text().splitlines()
    assert [json.loads(line)["name"] for line in lines if "context" in json.loads(line)] == ["early.span"]
