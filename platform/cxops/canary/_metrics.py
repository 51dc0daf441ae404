"""Prometheus metrics of the canary gateway, per model, version and side, in a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["GatewayMetrics"]

# Model servers answer in milliseconds; the upper buckets catch slow feature look-ups and timeouts.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_DIFF_BUCKETS = (0.0, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0)


class GatewayMetrics:
    """The gateway's counters and histograms; `registry` is what `/metrics` exposes."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "cxops_gateway_requests",
            "Requests proxied to a model server, by the status it answered (502: unreachable).",
            ["model", "version", "side", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "cxops_gateway_request_duration_seconds",
            "Time a model server took to answer a proxied request, as the gateway saw it.",
            ["model", "version", "side"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "cxops_gateway_fallbacks",
            "Candidate requests answered by the stable version after the candidate failed.",
            ["model", "version"],
            registry=self.registry,
        )
        self.shadow = Counter(
            "cxops_gateway_shadow_comparisons",
            "Shadow copies, by outcome: agree, disagree (labels differ), incomparable or failed.",
            ["model", "version", "outcome"],
            registry=self.registry,
        )
        self.shadow_diff = Histogram(
            "cxops_gateway_shadow_abs_probability_diff",
            "Largest absolute probability difference between a shadow answer and the stable answer.",
            ["model", "version"],
            buckets=_DIFF_BUCKETS,
            registry=self.registry,
        )

    def observe(self, model: str, version: str, side: str, status: int, seconds: float) -> None:
        self.requests.labels(model, version, side, str(status)).inc()
        self.latency.labels(model, version, side).observe(seconds)
