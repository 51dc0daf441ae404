"""Test one closed window and build its result (without `seq`, which the store assigns).

The verdict is `data_quality` when the window fails the quality limits (the drift test is then not run:
the valid rows of a broken window say little about the population), `drift` when the detector finds drift
in the valid rows, and `no_drift` otherwise.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from cxops_drift.detectors import FittedDetector
from cxops_drift.windows import Window

__all__ = ["MIN_TEST_ROWS", "evaluate_window", "iso"]

MIN_TEST_ROWS = 10  # fewer valid rows than this cannot be tested meaningfully


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _nominal_threshold(detector: FittedDetector) -> float:
    """The corrected threshold a test would use (Bonferroni over univariate tests)."""
    p_value = detector.spec.p_value
    return p_value if detector.name == "MMDDrift" else p_value / len(detector.feature_names)


def evaluate_window(window: Window, detector: FittedDetector) -> dict[str, Any]:
    """The result of `window` (drift test included when the quality verdict allows it)."""
    spec = window.spec
    quality = window.tally.verdict(spec.quality)
    tested = len(window.rows)
    if not quality["failed"] and tested < MIN_TEST_ROWS:
        quality["failed"] = True
        quality["reasons"].append(f"only {tested} valid rows; a drift test needs at least {MIN_TEST_ROWS}")
    started = time.perf_counter()
    features: list[dict[str, Any]] = []
    threshold = _nominal_threshold(detector)
    verdict = "data_quality"
    if not quality["failed"]:
        outcome = detector.test(window.rows)
        features, threshold = outcome.features, outcome.threshold
        verdict = "drift" if outcome.drift else "no_drift"
    seconds = time.perf_counter() - started
    return {
        "id": str(uuid.uuid4()),
        "model": window.model,
        "version": window.version,
        "created_at": iso(datetime.now(UTC)),
        "verdict": verdict,
        "window": {
            "start": iso(window.start),
            "end": iso(window.end),
            "rows": window.size,
            "invalid_rows": window.tally.invalid_rows,
            "id_only_requests": window.id_only_requests,
        },
        "detector": detector.name,
        "p_value": spec.p_value,
        "threshold": threshold,
        "features": features,
        "drifted_features": [f["name"] for f in features if f["drift"]],
        "quality": quality,
        "seconds": round(seconds, 6),
        "rows_per_second": round(tested / seconds, 1) if features and seconds > 0 else 0.0,
    }
