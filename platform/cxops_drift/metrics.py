"""Prometheus metrics of the drift monitor, in a registry of its own (nothing global is touched)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["CONTENT_TYPE", "DriftMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_VERSION = ("model", "version")


class DriftMetrics:
    """Gauges of the latest result per model version, counters of windows, rows and events."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.drift = Gauge(
            "cxops_drift_detected",
            "1 when the latest tested window of the version drifted, else 0",
            _VERSION,
            registry=r,
        )
        self.p_value = Gauge(
            "cxops_drift_feature_p_value",
            "p-value of the latest test, per feature",
            (*_VERSION, "feature"),
            registry=r,
        )
        self.statistic = Gauge(
            "cxops_drift_feature_statistic",
            "test statistic of the latest test, per feature (KS distance, chi2, MMD^2)",
            (*_VERSION, "feature"),
            registry=r,
        )
        self.window_rows = Gauge(
            "cxops_drift_window_rows", "rows in the version's open window", _VERSION, registry=r
        )
        self.invalid_rows = Counter(
            "cxops_drift_invalid_rows",
            "rows that broke the schema (left out of drift tests)",
            _VERSION,
            registry=r,
        )
        self.windows = Counter(
            "cxops_drift_windows_tested", "windows tested, by verdict", (*_VERSION, "verdict"), registry=r
        )
        self.seconds = Histogram(
            "cxops_drift_detection_seconds",
            "seconds to test one window (encoding and embedding included)",
            _VERSION,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.events = Counter(
            "cxops_drift_events",
            "CloudEvents received, by outcome (used, or why ignored)",
            ("outcome",),
            registry=r,
        )
        self.alerts = Counter("cxops_drift_alerts", "alert deliveries, by outcome", ("outcome",), registry=r)

    def observe_result(self, result: dict[str, Any]) -> None:
        labels = (result["model"], result["version"])
        verdict = result["verdict"]
        self.windows.labels(*labels, verdict).inc()
        self.invalid_rows.labels(*labels).inc(result["window"]["invalid_rows"])
        self.seconds.labels(*labels).observe(result["seconds"])
        self.drift.labels(*labels).set(1 if verdict == "drift" else 0)
        for feature in result["features"]:
            self.p_value.labels(*labels, feature["name"]).set(feature["p_value"])
            self.statistic.labels(*labels, feature["name"]).set(feature["statistic"])

    def render(self) -> bytes:
        return generate_latest(self.registry)
