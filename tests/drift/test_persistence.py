"""Saved detectors reload without refitting; results and their `seq` survive restarts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cxops_drift.errors import ConflictError, InvalidError, NotFoundError
from cxops_drift.service import DriftService
from cxops_drift.store import ResultStore


def _mtimes(directory: Path) -> dict[str, int]:
    return {str(p.relative_to(directory)): p.stat().st_mtime_ns for p in directory.rglob("*") if p.is_file()}


def _window(service: DriftService, request_event, body: dict, model: str):
    service.ingest([request_event(body, model=model)])
    (window,) = service.take_partial(model)
    return window


def test_a_restarted_service_reloads_detectors_without_refitting_and_continues_seq(
    tmp_path, tabular_bundle, text_bundle, churn_data, support_texts, request_event
) -> None:
    state = tmp_path / "state"
    first = DriftService(state)
    first.register("churn", "7", str(tabular_bundle()))
    first.register("intent", "3", str(text_bundle()))
    assert first.fits == 2
    rows = churn_data.rows(200)
    texts = support_texts.texts(80, {"billing": 0.5, "network": 0.5})
    before = [
        first.test(_window(first, request_event, {"rows": rows}, "churn")),
        first.test(_window(first, request_event, {"texts": texts}, "intent")),
    ]
    saved = _mtimes(state / "detectors")
    assert "churn/7/detector/config.toml" in saved and "intent/3/pca.npz" in saved

    second = DriftService(state)
    assert second.load_saved() == []
    assert second.fits == 0 and _mtimes(state / "detectors") == saved  # nothing refitted or rewritten
    assert {(d["model"], d["version"], d["windows_tested"]) for d in second.list_detectors()} == {
        ("churn", "7", 1),
        ("intent", "3", 1),
    }
    after = [
        second.test(_window(second, request_event, {"rows": rows}, "churn")),
        second.test(_window(second, request_event, {"texts": texts}, "intent")),
    ]
    assert [r["seq"] for r in before + after] == [1, 2, 3, 4]
    for old, new in zip(before, after, strict=True):
        assert [f["p_value"] for f in new["features"]] == pytest.approx(
            [f["p_value"] for f in old["features"]]
        )
    assert [r["seq"] for r in second.store.query()] == [1, 2, 3, 4]


def test_registering_again(tmp_path, tabular_bundle) -> None:
    service = DriftService(tmp_path / "state")
    bundle = tabular_bundle()
    assert service.register("churn", 7, str(bundle))[0] is True  # an int version is read as "7"
    created, description = service.register("churn", "7", str(bundle))
    assert created is False and description["version"] == "7" and service.fits == 1
    with pytest.raises(ConflictError, match="already watched with the bundle") as caught:
        service.register("churn", "7", str(tabular_bundle(name="other")))
    assert caught.value.status_code == 409
    with pytest.raises(InvalidError, match="is for model 'churn', not 'sentiment'"):
        service.register("sentiment", "1", str(bundle))
    with pytest.raises(InvalidError, match="version '../x' is not valid"):
        service.register("churn", "../x", str(bundle))
    with pytest.raises(NotFoundError, match="not found"):
        service.register("churn", "9", str(tmp_path / "missing"))


def test_broken_or_incomplete_saves_are_skipped_and_reported(tmp_path, tabular_bundle) -> None:
    state = tmp_path / "state"
    first = DriftService(state)
    first.register("churn", "7", str(tabular_bundle()))
    first.register("churn", "8", str(tabular_bundle(name="b8")))
    (state / "detectors" / "churn" / "8" / "detector" / "config.toml").write_text("name = 'Nonsense'\n")
    (state / "detectors" / "churn" / "9" / "detector").mkdir(parents=True)  # a fit that never finished
    second = DriftService(state)
    problems = second.load_saved()
    assert len(problems) == 1 and "churn/8" in problems[0] and "register the version again" in problems[0]
    assert [d["version"] for d in second.list_detectors()] == ["7"]


def test_the_store_skips_a_torn_line_and_filters(tmp_path) -> None:
    store = ResultStore(tmp_path)
    for model, version in [("churn", "7"), ("intent", "3"), ("churn", "8"), ("churn", "7")]:
        store.append({"model": model, "version": version, "verdict": "no_drift"})
    with store.path.open("a") as handle:
        handle.write('{"seq": 5, "model": "chu')  # a crash mid-write
    reopened = ResultStore(tmp_path)
    assert reopened.last_seq == 4 and reopened.tested[("churn", "7")] == 2
    assert reopened.append({"model": "churn", "version": "7"})["seq"] == 5
    assert [r["seq"] for r in reopened.query(model="churn")] == [1, 3, 4, 5]
    assert [r["seq"] for r in reopened.query(model="churn", version="7", after=1)] == [4, 5]
    assert [r["seq"] for r in reopened.query(limit=2)] == [1, 2]
    lines = store.path.read_text().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [1, 2, 3, 4, 5]  # the torn line is gone
