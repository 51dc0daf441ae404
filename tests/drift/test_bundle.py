"""Loading and checking drift reference bundles (monitor.json + reference.csv)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cxops_drift.bundle import load_bundle
from cxops_drift.errors import DriftError, InvalidError, NotFoundError
from cxops_drift.spec import parse_spec


def _edit(bundle: Path, **changes: object) -> None:
    settings = json.loads((bundle / "monitor.json").read_text())
    settings.update(changes)
    (bundle / "monitor.json").write_text(json.dumps(settings))


def test_a_tabular_bundle_loads_with_typed_reference_rows(tabular_bundle) -> None:
    bundle = load_bundle(tabular_bundle())
    assert bundle.spec.model == "churn" and bundle.spec.kind == "tabular"
    assert [f.name for f in bundle.spec.features][:2] == ["tenure", "MonthlyCharges"]
    assert len(bundle.reference) == 1000 and bundle.dropped == 0
    row = bundle.reference[0]
    assert isinstance(row["tenure"], float) and isinstance(row["Contract"], str)
    assert row["SeniorCitizen"] in ("0", "1")  # categories travel as strings
    nulls = sum(r["support_contacts_90d"] is None for r in bundle.reference)
    assert 20 < nulls < 90  # the nullable feature keeps its nulls (about 5 %)


def test_spec_round_trips_through_its_dict_form(tabular_bundle) -> None:
    spec = load_bundle(tabular_bundle()).spec
    assert parse_spec(spec.to_dict()) == spec


def test_a_missing_directory_is_not_found_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError) as caught:
        load_bundle(tmp_path / "nowhere")
    assert caught.value.status_code == 404
    assert "nowhere" in caught.value.message and "monitor.json" in caught.value.message


def test_a_missing_reference_file_is_not_found(tabular_bundle) -> None:
    bundle = tabular_bundle()
    (bundle / "reference.csv").unlink()
    with pytest.raises(NotFoundError, match="reference.csv"):
        load_bundle(bundle)


def test_every_problem_of_monitor_json_is_reported_at_once(tabular_bundle) -> None:
    bundle = tabular_bundle()
    _edit(bundle, detector="lsdd", window_size=50, min_window=80, colour="blue")
    with pytest.raises(InvalidError) as caught:
        load_bundle(bundle)
    message = caught.value.message
    assert caught.value.status_code == 400 and isinstance(caught.value, DriftError)
    assert (
        "'lsdd'" in message and "colour" in message and "'min_window' 80 is above 'window_size' 50" in message
    )


def test_feature_definitions_are_checked(tabular_bundle) -> None:
    bundle = tabular_bundle()
    _edit(
        bundle,
        features=[
            {"name": "tenure", "type": "numeric", "min": 10, "max": 5},
            {"name": "Contract", "type": "categorical", "categories": []},
            {"name": "x", "type": "date"},
        ],
    )
    with pytest.raises(InvalidError) as caught:
        load_bundle(bundle)
    message = caught.value.message
    assert "feature 'tenure': min 10.0 is above max 5.0" in message
    assert "feature 'Contract': 'categories' must be a non-empty list" in message
    assert "feature 'x' has type 'date'" in message


def test_a_text_bundle_needs_a_known_encoder_and_its_fields(text_bundle) -> None:
    bundle = text_bundle()
    assert load_bundle(bundle).spec.text_field == "text"
    _edit(bundle, encoder="bert-large", components=1000, detector="tabular")
    with pytest.raises(InvalidError) as caught:
        load_bundle(bundle)
    message = caught.value.message
    assert (
        "'bert-large'" in message
        and "384" in message
        and "'tabular'; expected one of ['mmd', 'ks']" in message
    )


def test_a_reference_shorter_than_announced_is_refused(tabular_bundle) -> None:
    bundle = tabular_bundle()
    _edit(bundle, reference_rows=1200)
    with pytest.raises(InvalidError, match="reference_rows 1200 but reference.csv holds 1000 rows"):
        load_bundle(bundle)


def test_reference_rows_that_break_the_schema_are_dropped_up_to_the_limit(tabular_bundle) -> None:
    bundle = tabular_bundle(rows=200)
    lines = (bundle / "reference.csv").read_text().splitlines()
    header = lines[0].split(",")
    tenure = header.index("tenure")

    def broken(count: int) -> None:
        out = [lines[0]]
        for i, line in enumerate(lines[1:]):
            cells = line.split(",")
            if i < count:
                cells[tenure] = ""  # null in a non-nullable feature
            out.append(",".join(cells))
        (bundle / "reference.csv").write_text("\n".join(out) + "\n")

    broken(4)  # 2 % of the rows: dropped, the bundle is used
    loaded = load_bundle(bundle)
    assert loaded.dropped == 4 and len(loaded.reference) == 196
    assert "tenure null" in loaded.dropped_examples[0]
    broken(30)  # 15 %, above max_invalid_fraction 0.05
    with pytest.raises(InvalidError, match="30 of 200 reference rows break") as caught:
        load_bundle(bundle)
    assert "tenure null" in caught.value.message


def test_unreadable_json_is_invalid(tabular_bundle) -> None:
    bundle = tabular_bundle()
    (bundle / "monitor.json").write_text("{not json")
    with pytest.raises(InvalidError, match="is not valid JSON"):
        load_bundle(bundle)
