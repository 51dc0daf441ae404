"""The platform's metric instruments, with the attributes each one carries.

    cxops.model.requests          counter     model, version, route, status_class ("2xx", "4xx", "5xx")
    cxops.model.request.duration  histogram   seconds; model, version, route, status_class
    cxops.model.errors            counter     model, version, kind (the error's class, e.g. NotFoundError)
    cxops.feast.lookup.duration   histogram   seconds; model, feature_service
    cxops.drift.windows           counter     model, version, verdict (e.g. "drift", "no_drift")
    cxops.drift.features_drifted  gauge       features drifted in the latest window; model, version

The drift monitor reports each window it judges with `record_drift(...)`.
"""

from __future__ import annotations

import threading

from opentelemetry.metrics import Meter

__all__ = [
    "DRIFT_WINDOWS",
    "ERRORS",
    "FEAST_LOOKUP_DURATION",
    "FEATURES_DRIFTED",
    "METER_NAME",
    "REQUESTS",
    "REQUEST_DURATION",
    "Instruments",
    "platform_instruments",
    "record_drift",
    "status_class",
]

METER_NAME = "cxops"
REQUESTS = "cxops.model.requests"
REQUEST_DURATION = "cxops.model.request.duration"
ERRORS = "cxops.model.errors"
FEAST_LOOKUP_DURATION = "cxops.feast.lookup.duration"
DRIFT_WINDOWS = "cxops.drift.windows"
FEATURES_DRIFTED = "cxops.drift.features_drifted"

# Seconds, from a fast online lookup (~1 ms) to a slow text-model batch (10 s); the SDK's default
# buckets suit milliseconds.
_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def status_class(status: int) -> str:
    return f"{status // 100}xx"


class Instruments:
    """The instruments on one meter, and one method per thing the platform records."""

    def __init__(self, meter: Meter) -> None:
        self.requests = meter.create_counter(
            REQUESTS, unit="{request}", description="Inference requests answered by a model server"
        )
        self.request_duration = meter.create_histogram(
            REQUEST_DURATION,
            unit="s",
            description="Time a model server took to answer an inference request",
            explicit_bucket_boundaries_advisory=_SECONDS,
        )
        self.errors = meter.create_counter(
            ERRORS, unit="{error}", description="Inference requests a model server answered with an error"
        )
        self.feast_lookup_duration = meter.create_histogram(
            FEAST_LOOKUP_DURATION,
            unit="s",
            description="Time of an online feature lookup for the customers of one request",
            explicit_bucket_boundaries_advisory=_SECONDS,
        )
        self.drift_windows = meter.create_counter(
            DRIFT_WINDOWS, unit="{window}", description="Windows of served requests judged for drift"
        )
        self.features_drifted = meter.create_gauge(
            FEATURES_DRIFTED, unit="{feature}", description="Features that drifted in the latest window"
        )

    def record_request(self, model: str, version: str, route: str, status: int, seconds: float) -> None:
        attributes = {
            "model": model,
            "version": version,
            "route": route,
            "status_class": status_class(status),
        }
        self.requests.add(1, attributes)
        self.request_duration.record(seconds, attributes)

    def record_error(self, model: str, version: str, kind: str) -> None:
        self.errors.add(1, {"model": model, "version": version, "kind": kind})

    def record_feast_lookup(self, model: str, feature_service: str, seconds: float) -> None:
        self.feast_lookup_duration.record(seconds, {"model": model, "feature_service": feature_service})

    def record_drift(self, model: str, version: str, verdict: str, drifted_features: int) -> None:
        self.drift_windows.add(1, {"model": model, "version": version, "verdict": verdict})
        self.features_drifted.set(drifted_features, {"model": model, "version": version})


_global: Instruments | None = None
_global_lock = threading.Lock()


def platform_instruments() -> Instruments:
    """The instruments on the global meter provider (they record once `configure_telemetry` has run)."""
    global _global
    with _global_lock:
        if _global is None:
            from cxops.telemetry.providers import global_telemetry

            _global = Instruments(global_telemetry().meter(METER_NAME))
        return _global


def record_drift(
    model: str, version: str, verdict: str, drifted_features: int, *, instruments: Instruments | None = None
) -> None:
    """Count one judged window of `model` version `version` and set its number of drifted features."""
    (instruments or platform_instruments()).record_drift(model, version, verdict, drifted_features)
