"""The `file` exporters: one JSON document per line, spans and metric batches appended to one file.

A span line is `ReadableSpan.to_json()` (it has `context`), a metrics line is `MetricsData.to_json()` (it
has `resource_metrics`). Each line goes out in a single `write` on a file opened for appending, so the
processes sharing one `CXOPS_OTEL_FILE` (a gateway and its model servers) do not interleave lines.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = ["JsonLinesMetricExporter", "JsonLinesSpanExporter"]


class _Lines:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._lock = threading.Lock()

    def write(self, documents: Sequence[str]) -> bool:
        data = "".join(d + "\n" for d in documents).encode()
        with self._lock:
            try:
                if self._fd is None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                os.write(self._fd, data)
            except OSError:
                return False
        return True

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class JsonLinesSpanExporter(SpanExporter):
    """Appends each finished span to `path` as one compact JSON line."""

    def __init__(self, path: Path) -> None:
        self._lines = _Lines(path)

    @property
    def path(self) -> Path:
        return self._lines.path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        ok = self._lines.write([span.to_json(indent=None) for span in spans])
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self._lines.close()


class JsonLinesMetricExporter(MetricExporter):
    """Appends each collected metrics batch to `path` as one compact JSON line."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._lines = _Lines(path)

    @property
    def path(self) -> Path:
        return self._lines.path

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        ok = self._lines.write([metrics_data.to_json(indent=None)])
        return MetricExportResult.SUCCESS if ok else MetricExportResult.FAILURE

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._lines.close()
