"""How a model server is traced and measured.

    cxops.model.predict              SERVER span of each inference request (every POST), continuing the
                                     caller's W3C `traceparent` (the gateway's upstream span): model,
                                     version, route, protocol, rows, HTTP status; the request is counted,
                                     timed and, when it fails, counted as an error of its kind
      feast.get_online_features      CLIENT span of the online lookup of the request's customers:
                                     feature service, entity rows, how many were missing
      cxops.model.call               the scoring itself: rows

The request span is opened by `ModelServerMiddleware` from the request's headers alone, never from the
current context: BentoML wraps the app in its own tracing (not exported by default), whose span must not
become the parent. The app's own FastAPI telemetry is turned off (`FASTAPI_TELEMETRY`): it would add a
second server span per request, spans for every health probe, and logs quoting error messages. Spans
carry no payloads, customer ids or error messages (those may hold personal data), only counts, names and
the error's class.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.trace import SpanKind, Status, StatusCode

from cxops.telemetry.instruments import METER_NAME, Instruments, platform_instruments

if TYPE_CHECKING:
    import pandas as pd
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from cxops.serving.feature_source import OnlineFeatureSource
    from cxops.specs import ModelSpec
    from cxops.telemetry.providers import Telemetry

__all__ = [
    "FASTAPI_TELEMETRY",
    "FEAST_SPAN",
    "MODEL_CALL_SPAN",
    "PREDICT_SPAN",
    "TRACER_NAME",
    "ModelServerMiddleware",
    "ServingTelemetry",
    "note_error",
]

TRACER_NAME = "cxops.serving"
PREDICT_SPAN = "cxops.model.predict"
FEAST_SPAN = "feast.get_online_features"
MODEL_CALL_SPAN = "cxops.model.call"

MODEL = "cxops.model"
VERSION = "cxops.model.version"
ROWS = "cxops.serving.rows"
PROTOCOL = "cxops.serving.protocol"
FEATURE_SERVICE = "feast.feature_service"
ENTITY_ROWS = "feast.entity_rows"
MISSING_ENTITIES = "feast.missing_entities"

FASTAPI_TELEMETRY: dict[str, Any] = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}
"""`FastAPI(telemetry=...)` of a model server's app: `ModelServerMiddleware` traces and measures it."""

_ERROR_TYPE = "cxops.error_type"
"""Scope key under which the app's error handlers leave the class of the error they answered."""


class ServingTelemetry:
    """The tracer and instruments of model serving (default: on the global providers)."""

    def __init__(self, telemetry: Telemetry | None = None) -> None:
        if telemetry is None:
            from cxops.telemetry.providers import global_telemetry

            self.tracer = global_telemetry().tracer(TRACER_NAME)
            self.instruments = platform_instruments()
        else:
            self.tracer = telemetry.tracer(TRACER_NAME)
            self.instruments = Instruments(telemetry.meter(METER_NAME))

    @classmethod
    def of(cls, telemetry: Telemetry | None) -> ServingTelemetry:
        """For `telemetry`, or the one shared instance on the global providers."""
        if telemetry is not None:
            return cls(telemetry)
        global _global
        with _global_lock:
            if _global is None:
                _global = cls()
            return _global

    def request_rows(self, rows: int) -> None:
        """Note the request's batch size on its span (current on the thread that predicts)."""
        trace.get_current_span().set_attribute(ROWS, rows)

    def online_features(
        self, source: OnlineFeatureSource, spec: ModelSpec, customer_pids: Sequence[str]
    ) -> tuple[pd.DataFrame, list[str]]:
        """`source.online_features(spec, customer_pids)`, traced and timed."""
        service = spec.features.feature_service
        attributes = {MODEL: spec.name, FEATURE_SERVICE: service, ENTITY_ROWS: len(customer_pids)}
        with self.tracer.start_as_current_span(
            FEAST_SPAN, kind=SpanKind.CLIENT, attributes=attributes
        ) as span:
            started = time.perf_counter()
            try:
                frame, unknown = source.online_features(spec, customer_pids)
            finally:
                self.instruments.record_feast_lookup(spec.name, service, time.perf_counter() - started)
            span.set_attribute(MISSING_ENTITIES, len(unknown))
        return frame, unknown

    @contextlib.contextmanager
    def model_call(self, model: str, version: str, rows: int) -> Iterator[trace.Span]:
        attributes = {MODEL: model, VERSION: version, ROWS: rows}
        with self.tracer.start_as_current_span(MODEL_CALL_SPAN, attributes=attributes) as span:
            yield span


_global: ServingTelemetry | None = None
_global_lock = threading.Lock()


def note_error(scope: MutableMapping[str, Any], error: BaseException) -> None:
    """For the app's error handlers: names the class of the error answered, for the request's span and
    the error counter."""
    scope[_ERROR_TYPE] = type(error).__name__


class _Served(Protocol):
    name: str
    model_version: str


class _Slot(Protocol):
    def get(self) -> _Served | None: ...


def _protocol(route: str | None) -> str:
    if route is None:
        return "unmatched"
    if route.startswith("/v2/"):
        return "kserve-v2"
    if route.startswith("/v1/models"):
        return "kserve-v1"
    return "json"


class ModelServerMiddleware:
    """ASGI middleware of a model server's app: the request span and the request metrics of every POST.

    `slot.get()` is the served model (anything with `name` and `model_version`), or None while it loads.
    """

    def __init__(self, app: ASGIApp, slot: _Slot, telemetry: Telemetry | None = None) -> None:
        self.app = app
        self.slot = slot
        self.serving = ServingTelemetry.of(telemetry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        served = self.slot.get()
        model = served.name if served is not None else "unknown"
        version = served.model_version if served is not None else "unknown"
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
        status = 500  # what the client gets when the app fails before it answers

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        attributes = {
            MODEL: model,
            VERSION: version,
            "http.request.method": "POST",
            "url.path": scope["path"],
        }
        error_type: str | None = None
        started = time.perf_counter()
        with self.serving.tracer.start_as_current_span(
            PREDICT_SPAN, context=extract(headers), kind=SpanKind.SERVER, attributes=attributes
        ) as span:
            try:
                await self.app(scope, receive, send_and_note)
            except Exception as exc:
                error_type = type(exc).__name__
                raise
            finally:
                seconds = time.perf_counter() - started
                route = getattr(scope.get("route"), "path", None)
                if status >= 400:
                    error_type = error_type or scope.get(_ERROR_TYPE) or f"http_{status}"
                    span.set_attribute("error.type", error_type)
                    self.serving.instruments.record_error(model, version, error_type)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR, f"HTTP {status} ({error_type})"))
                if route is not None:
                    span.set_attribute("http.route", route)
                span.set_attribute(PROTOCOL, _protocol(route))
                span.set_attribute("http.response.status_code", status)
                self.serving.instruments.record_request(model, version, route or "unmatched", status, seconds)
