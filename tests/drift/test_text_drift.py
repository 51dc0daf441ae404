"""Text drift: sentence embeddings reduced by PCA, tested with KS per dimension or MMD."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cxops_drift.service import DriftService

SAME_MIX = {"billing": 0.5, "network": 0.5}  # the reference's mix
OTHER_MIX = {"device": 0.5, "cancel": 0.5}


def _service(tmp_path: Path, bundle: Path) -> DriftService:
    service = DriftService(tmp_path / "state")
    service.register("intent", "3", str(bundle))
    return service


def _test(service: DriftService, request_event, texts: list) -> dict:
    _, _, closed = service.ingest([request_event({"texts": texts}, model="intent")])
    (window,) = closed
    return service.test(window)


def test_ks_over_reduced_embeddings(tmp_path, text_bundle, support_texts, request_event) -> None:
    service = _service(tmp_path, text_bundle("ks"))
    same = _test(service, request_event, support_texts.texts(100, SAME_MIX))
    assert same["verdict"] == "no_drift" and same["detector"] == "KSDrift"
    assert [f["name"] for f in same["features"]] == [f"emb_{i}" for i in range(8)]
    assert same["threshold"] == pytest.approx(0.05 / 8)
    other = _test(service, request_event, support_texts.texts(100, OTHER_MIX))
    assert other["verdict"] == "drift" and other["drifted_features"]
    french = _test(service, request_event, support_texts.texts(100, {"french": 1.0}))
    assert french["verdict"] == "drift"
    # the topic change moves the leading components far more than a same-mix sample does
    assert min(f["p_value"] for f in other["features"]) < 1e-6 < min(f["p_value"] for f in same["features"])
    saved = np.load(tmp_path / "state" / "detectors" / "intent" / "3" / "pca.npz")
    assert saved["components"].shape == (8, 384)


def test_mmd_over_reduced_embeddings(tmp_path, text_bundle, support_texts, request_event) -> None:
    service = _service(tmp_path, text_bundle("mmd"))
    same = _test(service, request_event, support_texts.texts(100, SAME_MIX))
    other = _test(service, request_event, support_texts.texts(100, {"billing": 0.2, "cancel": 0.8}))
    assert (same["verdict"], other["verdict"]) == ("no_drift", "drift")
    assert same["detector"] == "MMDDrift" and other["features"][0]["test"] == "mmd"


def test_empty_and_non_string_texts_are_a_quality_problem(
    tmp_path, text_bundle, support_texts, request_event
):
    service = _service(tmp_path, text_bundle("ks"))
    texts: list = support_texts.texts(100, SAME_MIX)
    texts[:6] = ["", "   ", None, 42, {"text": "nested"}, ""]
    result = _test(service, request_event, texts)
    assert result["verdict"] == "data_quality" and result["window"]["invalid_rows"] == 6
    assert result["quality"]["violations"]["text"] == {"missing": 0, "null": 1, "empty": 3, "wrong_type": 2}
    assert "text empty 3" in result["quality"]["reasons"][0]
