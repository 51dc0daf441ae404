"""Tabular drift end to end through the service (no HTTP): verdicts, drifted features, quality windows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import ks_2samp

from cxops_drift.bundle import load_bundle
from cxops_drift.detectors import MMD_FEATURE
from cxops_drift.service import DriftService

SHIFTED = ["tenure", "MonthlyCharges", "Contract"]  # what ChurnData(shifted=True) moves


def _service(tmp_path: Path, bundle: Path, version: str = "7") -> DriftService:
    service = DriftService(tmp_path / "state")
    created, _ = service.register("churn", version, str(bundle))
    assert created
    return service


def _windows(service: DriftService, request_event, rows: list[dict], **event) -> list[dict]:
    """Send rows in requests of 50 and test every window they fill."""
    closed = []
    for start in range(0, len(rows), 50):
        _, _, full = service.ingest([request_event({"instances": rows[start : start + 50]}, **event)])
        closed.extend(full)
    return [service.test(window) for window in closed]


def test_reference_like_windows_do_not_drift_and_shifted_ones_name_exactly_the_shifted_features(
    tmp_path, tabular_bundle, churn_data, request_event
) -> None:
    service = _service(tmp_path, tabular_bundle())
    calm = _windows(service, request_event, churn_data.rows(900))
    assert [r["verdict"] for r in calm] == ["no_drift"] * 3
    first = calm[0]
    assert first["detector"] == "TabularDrift" and first["threshold"] == pytest.approx(0.05 / 6)
    assert {f["name"]: f["test"] for f in first["features"]} == {
        "tenure": "ks",
        "MonthlyCharges": "ks",
        "support_contacts_90d": "ks",
        "Contract": "chi2",
        "InternetService": "chi2",
        "SeniorCitizen": "chi2",
    }
    assert first["window"]["rows"] == 300 and first["window"]["invalid_rows"] == 0
    assert first["quality"]["null_fraction"]["support_contacts_90d"] > 0  # allowed nulls are counted

    (shifted,) = _windows(service, request_event, churn_data.rows(300, shifted=True))
    assert shifted["verdict"] == "drift"
    assert shifted["drifted_features"] == SHIFTED
    for feature in shifted["features"]:
        assert feature["drift"] == (feature["name"] in SHIFTED)
        assert feature["drift"] == (feature["p_value"] < shifted["threshold"])
    assert [r["seq"] for r in [*calm, shifted]] == [1, 2, 3, 4]
    assert [r["window"]["index"] for r in [*calm, shifted]] == [0, 1, 2, 3]


def test_each_feature_carries_its_reference_and_current_distribution(
    tmp_path, tabular_bundle, churn_data, request_event
) -> None:
    service = _service(tmp_path, tabular_bundle())
    (shifted,) = _windows(service, request_event, churn_data.rows(300, shifted=True))
    by_name = {f["name"]: f for f in shifted["features"]}
    tenure = by_name["tenure"]
    edges = tenure["reference"]["edges"]
    assert tenure["current"]["edges"] == edges and edges == sorted(edges)
    assert sum(tenure["current"]["counts"]) == 300
    # Binned at the reference's deciles: each reference bin holds about a tenth of it.
    reference = np.array(tenure["reference"]["counts"], dtype=float)
    assert reference.max() / reference.sum() < 0.25
    # Shorter tenures: the current rows pile up in the lower bins.
    current = np.array(tenure["current"]["counts"], dtype=float)
    half = len(current) // 2
    assert current[:half].sum() > 2 * current[half:].sum()
    contract = by_name["Contract"]
    assert set(contract["current"]["categories"]) <= {"Month-to-month", "One year", "Two year", "(null)"}
    assert sum(contract["current"]["counts"]) == 300


def test_a_window_of_broken_rows_is_a_data_quality_verdict_not_drift(
    tmp_path, tabular_bundle, churn_data, request_event
) -> None:
    service = _service(tmp_path, tabular_bundle())
    rows = churn_data.rows(300, shifted=True)  # would drift, were it tested
    for row in rows[:40]:
        row["tenure"] = 500  # out of [0, 120]
    for row in rows[40:50]:
        row["Contract"] = "Three year"  # unknown category
    for row in rows[50:55]:
        row["MonthlyCharges"] = None  # null in a non-nullable feature
    (result,) = _windows(service, request_event, rows)
    assert result["verdict"] == "data_quality"
    assert result["features"] == [] and result["drifted_features"] == []
    assert result["window"]["invalid_rows"] == 55
    quality = result["quality"]
    assert quality["failed"] and quality["invalid_fraction"] == pytest.approx(55 / 300, abs=1e-6)
    assert quality["violations"]["tenure"]["out_of_range"] == 40
    assert quality["violations"]["Contract"]["unknown_category"] == 10
    assert quality["violations"]["MonthlyCharges"]["null"] == 5
    (reason,) = quality["reasons"]
    assert "tenure out_of_range 40" in reason and "55 of 300 rows" in reason


def test_invalid_rows_below_the_limit_are_left_out_of_the_test(
    tmp_path, tabular_bundle, churn_data, request_event
) -> None:
    bundle = tabular_bundle()
    service = _service(tmp_path, bundle)
    rows = churn_data.rows(300)
    for row in rows[:12]:
        row["tenure"] = -40  # out of range: counted, not tested
    (result,) = _windows(service, request_event, rows)
    assert result["verdict"] == "no_drift" and result["window"]["invalid_rows"] == 12
    reference = [r["tenure"] for r in load_bundle(bundle).reference]
    expected = ks_2samp(reference, [r["tenure"] for r in rows[12:]], mode="asymp").statistic
    tenure = next(f for f in result["features"] if f["name"] == "tenure")
    assert tenure["statistic"] == pytest.approx(expected, abs=1e-6)


def test_too_many_nulls_in_a_nullable_feature_is_a_quality_verdict(
    tmp_path, tabular_bundle, churn_data, request_event
) -> None:
    service = _service(tmp_path, tabular_bundle())
    rows = churn_data.rows(300)
    for row in rows[:90]:
        row["support_contacts_90d"] = None
    (result,) = _windows(service, request_event, rows)
    assert result["verdict"] == "data_quality" and result["window"]["invalid_rows"] == 0
    assert "feature 'support_contacts_90d' is null" in result["quality"]["reasons"][0]


@pytest.mark.parametrize("detector", ["mmd", "ks"])
def test_the_other_tabular_detectors(
    tmp_path, tabular_bundle, churn_data, request_event, detector: str
) -> None:
    service = _service(tmp_path, tabular_bundle(detector))
    calm, shifted = _windows(
        service, request_event, churn_data.rows(300) + churn_data.rows(300, shifted=True)
    )
    assert (calm["verdict"], shifted["verdict"]) == ("no_drift", "drift")
    if detector == "mmd":
        assert calm["detector"] == "MMDDrift" and calm["threshold"] == 0.05
        assert [f["name"] for f in shifted["features"]] == [MMD_FEATURE]
        assert shifted["drifted_features"] == [MMD_FEATURE] and shifted["features"][0]["test"] == "mmd"
    else:
        assert calm["detector"] == "KSDrift" and {f["test"] for f in calm["features"]} == {"ks"}
        assert shifted["drifted_features"] == SHIFTED


def test_the_mmd_permutation_test_is_reproducible(
    tmp_path, tabular_bundle, churn_data, request_event
) -> None:
    service = _service(tmp_path, tabular_bundle("mmd"))
    rows = churn_data.rows(200)
    service.ingest([request_event({"rows": rows})])
    (window,) = service.take_partial()
    service.ingest([request_event({"rows": rows})])
    (again,) = service.take_partial()
    first, second = service.test(window), service.test(again)
    assert 0.05 < first["features"][0]["p_value"] == second["features"][0]["p_value"]


def test_routing_by_version_and_what_is_ignored(tmp_path, tabular_bundle, churn_data, request_event) -> None:
    service = _service(tmp_path, tabular_bundle(), version="7")
    service.register("churn", "8", str(tabular_bundle(name="bundle-8")))
    rows = churn_data.rows(10)
    accepted, ignored, _ = service.ingest(
        [
            request_event({"rows": rows}),  # no version: the latest registered (8)
            request_event({"rows": rows[:4]}, version="7"),
            request_event({"customer_ids": ["c1", "c2"]}, version="7"),  # id-only: counted, no rows
            request_event({"rows": rows}, version="9"),  # not watched
            request_event({"rows": rows}, model="sentiment"),  # not watched
            request_event({"predictions": [0.3]}, kind="response"),  # responses carry no inputs
        ]
    )
    assert (accepted, ignored) == (14, 3)
    windows = {(d["model"], d["version"]): d["window_rows"] for d in service.list_detectors()}
    assert windows == {("churn", "7"): 4, ("churn", "8"): 10}
    with pytest.raises(Exception, match="model 'sentiment' has no detector"):
        service.take_partial("sentiment")
    assert service.take_partial("churn") == []  # below min_window (100): nothing to test yet
    service.ingest([request_event({"rows": churn_data.rows(100)}, version="7")])
    (window,) = service.take_partial("churn")
    result = service.test(window)
    assert result["version"] == "7" and result["window"]["rows"] == 104
    assert result["window"]["id_only_requests"] == 1


def test_a_malformed_event_in_a_batch_changes_nothing(
    tmp_path, tabular_bundle, churn_data, request_event
) -> None:
    service = _service(tmp_path, tabular_bundle())
    good = request_event({"rows": churn_data.rows(5)})
    bad = request_event({"inputs": [{"name": "tenure", "shape": [2], "data": [1]}]})
    with pytest.raises(Exception, match=f"event '{bad.id}'.*shape \\[2\\] but 1 values") as caught:
        service.ingest([good, bad])
    assert caught.value.status_code == 400
    assert service.list_detectors()[0]["window_rows"] == 0
    assert np.isclose(
        service.metrics.registry.get_sample_value("cxops_drift_events_total", {"outcome": "used"}) or 0, 0
    )
