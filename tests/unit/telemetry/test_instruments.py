"""The platform's instruments: drift windows by verdict, the drifted features of the latest window, and
request status classes."""

from __future__ import annotations

from cxops.telemetry import Instruments, record_drift
from cxops.telemetry.instruments import DRIFT_WINDOWS, FEATURES_DRIFTED, METER_NAME, REQUESTS


def test_drift_windows_are_counted_by_verdict_and_the_latest_count_of_drifted_features_is_kept(
    recorded,
) -> None:
    instruments = Instruments(recorded.telemetry.meter(METER_NAME))
    record_drift("churn", "7", "no_drift", 0, instruments=instruments)
    record_drift("churn", "7", "drift", 3, instruments=instruments)
    record_drift("churn", "7", "drift", 5, instruments=instruments)
    record_drift("churn", "8", "no_drift", 1, instruments=instruments)

    windows = {(a["version"], a["verdict"]): p.value for a, p in recorded.points(DRIFT_WINDOWS)}
    assert windows == {("7", "no_drift"): 1, ("7", "drift"): 2, ("8", "no_drift"): 1}
    drifted = {(a["model"], a["version"]): p.value for a, p in recorded.points(FEATURES_DRIFTED)}
    assert drifted == {("churn", "7"): 5, ("churn", "8"): 1}


def test_requests_are_counted_by_status_class(recorded) -> None:
    instruments = Instruments(recorded.telemetry.meter(METER_NAME))
    for status in (200, 201, 404, 422, 503):
        instruments.record_request("intent", "2", "/v2/models/{name}/infer", status, 0.02)
    counts = {a["status_class"]: p.value for a, p in recorded.points(REQUESTS)}
    assert counts == {"2xx": 2, "4xx": 2, "5xx": 1}
