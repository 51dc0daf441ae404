"""Tracer and meter providers of a CXOps process, exporting where the settings say.

    telemetry = configure_telemetry(settings, "cxops-gateway")  # once per process: sets the global providers
    tracer = telemetry.tracer("cxops.canary.gateway")

`settings.otel_exporter` (`CXOPS_OTEL_EXPORTER`) chooses the exporters: `none` (the providers exist, so
trace context still flows from the gateway to the model servers, but nothing leaves the process),
`console`, `file` (JSON lines in `settings.otel_file`, default `<home>/telemetry/<service>.jsonl`) or
`otlp` (OTLP/HTTP to `settings.otel_endpoint` + `/v1/traces` and `/v1/metrics`, e.g. a collector).
Every span and metric carries the service's resource: `service.name`, `service.version` and
`deployment.environment` (`OTEL_RESOURCE_ATTRIBUTES=deployment.environment=...` overrides the default).

Tests build providers around in-memory exporters with `telemetry_with`, which touches no global state.
"""

from __future__ import annotations

import atexit
import sys
import threading

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, OTELResourceDetector, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter

import cxops
from cxops.config import Settings
from cxops.telemetry._jsonl import JsonLinesMetricExporter, JsonLinesSpanExporter

__all__ = [
    "DEPLOYMENT_ENVIRONMENT",
    "Telemetry",
    "build_telemetry",
    "configure_telemetry",
    "exporters_for",
    "global_telemetry",
    "telemetry_resource",
    "telemetry_with",
]

DEPLOYMENT_ENVIRONMENT = "deployment.environment"


class Telemetry:
    """A tracer provider and a meter provider that belong together (one service, one resource)."""

    def __init__(self, tracer_provider: trace.TracerProvider, meter_provider: metrics.MeterProvider) -> None:
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self._closed = False
        self._lock = threading.Lock()

    def tracer(self, name: str) -> trace.Tracer:
        return self.tracer_provider.get_tracer(name, cxops.__version__)

    def meter(self, name: str) -> metrics.Meter:
        return self.meter_provider.get_meter(name, cxops.__version__)

    def force_flush(self, timeout_millis: int = 10_000) -> bool:
        """Export what is buffered now (spans of the batch processor, the metrics collected so far)."""
        done = True
        for provider in (self.tracer_provider, self.meter_provider):
            flush = getattr(provider, "force_flush", None)  # the API's proxy providers hold nothing
            if flush is not None:
                done = bool(flush(timeout_millis)) and done
        return done

    def shutdown(self) -> None:
        """Flush and stop the exporters; later calls do nothing."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for provider in (self.tracer_provider, self.meter_provider):
            shutdown = getattr(provider, "shutdown", None)
            if shutdown is not None:
                shutdown()


def global_telemetry() -> Telemetry:
    """The process's global providers. Before `configure_telemetry` runs they are the API's proxies: what
    is taken from them (tracers, instruments) records nothing until the real providers are set, then
    records into them."""
    return Telemetry(trace.get_tracer_provider(), metrics.get_meter_provider())


def telemetry_resource(
    service_name: str, settings: Settings | None = None, version: str | None = None
) -> Resource:
    """`service.name`, `service.version` (default: the platform's version) and `deployment.environment`
    (`local`, or `kubernetes` with `canary_backend=kubernetes`, unless `OTEL_RESOURCE_ATTRIBUTES` names
    one), plus whatever `OTEL_RESOURCE_ATTRIBUTES` adds."""
    detected = OTELResourceDetector().detect().attributes
    default_environment = (
        "kubernetes" if settings is not None and settings.canary_backend == "kubernetes" else "local"
    )
    return Resource.create(
        {
            SERVICE_NAME: service_name,
            SERVICE_VERSION: version or cxops.__version__,
            DEPLOYMENT_ENVIRONMENT: str(detected.get(DEPLOYMENT_ENVIRONMENT, default_environment)),
        }
    )


def exporters_for(settings: Settings, service_name: str) -> tuple[list[SpanExporter], list[MetricExporter]]:
    """The span and metric exporters that `settings.otel_exporter` asks for (none for `none`)."""
    kind = settings.otel_exporter
    if kind == "none":
        return [], []
    if kind == "console":
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        # The stream of the moment (the defaults are bound when the SDK is imported).
        return [ConsoleSpanExporter(service_name, out=sys.stdout)], [ConsoleMetricExporter(out=sys.stdout)]
    if kind == "file":
        path = settings.otel_file or settings.subdir("telemetry") / f"{service_name}.jsonl"
        return [JsonLinesSpanExporter(path)], [JsonLinesMetricExporter(path)]
    # otlp: imported only here (it brings protobuf and requests along)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    base = settings.otel_endpoint.rstrip("/")
    return [OTLPSpanExporter(endpoint=f"{base}/v1/traces")], [
        OTLPMetricExporter(endpoint=f"{base}/v1/metrics")
    ]


def _assemble(resource: Resource, processors: list[SpanProcessor], readers: list[MetricReader]) -> Telemetry:
    # Shut down by `Telemetry.shutdown` (registered at exit by configure_telemetry), exactly once.
    tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    for processor in processors:
        tracer_provider.add_span_processor(processor)
    meter_provider = MeterProvider(metric_readers=readers, resource=resource, shutdown_on_exit=False)
    return Telemetry(tracer_provider, meter_provider)


def build_telemetry(settings: Settings, service_name: str, *, version: str | None = None) -> Telemetry:
    """Providers for `service_name` with the configured exporters: spans in batches, metrics every
    `OTEL_METRIC_EXPORT_INTERVAL` ms (default 60 s) and at shutdown. Sets nothing global."""
    span_exporters, metric_exporters = exporters_for(settings, service_name)
    return _assemble(
        telemetry_resource(service_name, settings, version),
        [BatchSpanProcessor(exporter) for exporter in span_exporters],
        [PeriodicExportingMetricReader(exporter) for exporter in metric_exporters],
    )


def telemetry_with(
    service_name: str,
    *,
    span_exporter: SpanExporter | None = None,
    metric_reader: MetricReader | None = None,
    version: str | None = None,
) -> Telemetry:
    """Providers around the given exporter and reader (tests: `InMemorySpanExporter`,
    `InMemoryMetricReader`); each span is exported as it ends. Sets nothing global."""
    return _assemble(
        telemetry_resource(service_name, version=version),
        [SimpleSpanProcessor(span_exporter)] if span_exporter is not None else [],
        [metric_reader] if metric_reader is not None else [],
    )


_configured: Telemetry | None = None
_configure_lock = threading.Lock()


def configure_telemetry(settings: Settings, service_name: str, *, version: str | None = None) -> Telemetry:
    """Build the providers once per process and make them the global ones, so that every
    `trace.get_tracer` / `metrics.get_meter` (those taken earlier included) records into them; they are
    flushed at exit. Later calls return the same object, whatever they ask for."""
    global _configured
    with _configure_lock:
        if _configured is None:
            telemetry = build_telemetry(settings, service_name, version=version)
            trace.set_tracer_provider(telemetry.tracer_provider)
            metrics.set_meter_provider(telemetry.meter_provider)
            atexit.register(telemetry.shutdown)
            _configured = telemetry
        return _configured
