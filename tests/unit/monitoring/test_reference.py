"""The drift reference bundle a training run writes, for the real churn (tabular), intent (text) and
recommendation (nothing watched) specs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxops.config import Settings
from cxops.errors import InvalidInputError
from cxops.monitoring.reference import BUNDLE_FILE, REFERENCE_FILE, write_drift_reference
from cxops.specs import ModelSpec, load_spec


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(home=tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def churn(settings: Settings) -> ModelSpec:
    return load_spec("churn", settings)


def churn_frame(spec: ModelSpec, rows: int, seed: int = 0) -> pd.DataFrame:
    """A training frame as the feature store returns it: every input, plus the id and label columns."""
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {"customerID": [f"c{i:05d}" for i in range(rows)]}
    for column in spec.inputs:
        if column.type == "category":
            columns[column.name] = pd.Categorical(rng.choice(column.categories, rows))
        elif column.type == "integer":
            columns[column.name] = pd.array(rng.integers(column.min, column.max, rows), dtype="Int64")
        else:
            columns[column.name] = rng.uniform(column.min, column.max, rows)
    columns["Churn"] = rng.choice(["No", "Yes"], rows)
    return pd.DataFrame(columns)


def _bundle(directory: Path) -> tuple[dict, pd.DataFrame]:
    settings = json.loads((directory / BUNDLE_FILE).read_text())
    return settings, pd.read_csv(directory / REFERENCE_FILE, dtype=str, keep_default_na=False)


def test_a_tabular_bundle_describes_every_input_and_samples_the_reference(
    churn: ModelSpec, tmp_path: Path
) -> None:
    written = write_drift_reference(churn, churn_frame(churn, 1500), tmp_path / "drift", seed=3)
    assert written == tmp_path / "drift"
    bundle, reference = _bundle(written)
    assert {k: v for k, v in bundle.items() if k != "features"} == {
        "format": 1,
        "model": "churn",
        "kind": "tabular",
        "detector": "tabular",
        "p_value": 0.05,
        "window_size": 300,
        "min_window": 100,
        "quality": {"max_invalid_fraction": 0.05, "max_null_fraction": 0.2},
        "id_fields": ["customerID", "customer_id", "customer_ids"],
        "reference": "reference.csv",
        "reference_rows": 1000,
    }
    features = {f["name"]: f for f in bundle["features"]}
    assert [f["name"] for f in bundle["features"]] == churn.input_names
    assert features["tenure"] == {
        "name": "tenure",
        "type": "numeric",
        "min": 0,
        "max": 120,
        "nullable": False,
    }
    assert features["support_contacts_90d"]["nullable"] is True
    assert features["charge_trend"] == {
        "name": "charge_trend",
        "type": "numeric",
        "min": -500,
        "max": 500,
        "nullable": False,
    }
    assert features["Contract"] == {
        "name": "Contract",
        "type": "categorical",
        "categories": ["Month-to-month", "One year", "Two year"],
        "nullable": False,
    }
    # Only the watched inputs, capped at reference_rows: no id, no label.
    assert list(reference.columns) == churn.input_names and len(reference) == 1000
    assert set(reference["Contract"]) <= {"Month-to-month", "One year", "Two year"}


def test_the_sample_is_seeded(churn: ModelSpec, tmp_path: Path) -> None:
    frame = churn_frame(churn, 1500)
    first, again, other = (
        write_drift_reference(churn, frame, tmp_path / name, seed=seed)
        for name, seed in (("a", 7), ("b", 7), ("c", 8))
    )
    assert first and again and other
    assert (first / REFERENCE_FILE).read_bytes() == (again / REFERENCE_FILE).read_bytes()
    assert (first / REFERENCE_FILE).read_bytes() != (other / REFERENCE_FILE).read_bytes()


def test_a_small_frame_is_kept_whole_and_its_size_recorded(churn: ModelSpec, tmp_path: Path) -> None:
    written = write_drift_reference(churn, churn_frame(churn, 120), tmp_path / "drift")
    assert written is not None
    bundle, reference = _bundle(written)
    assert bundle["reference_rows"] == len(reference) == 120


def test_categories_are_written_as_strings_and_nulls_as_empty_cells(churn: ModelSpec, tmp_path: Path) -> None:
    frame = churn_frame(churn, 60)
    # Integer-coded categories (as a raw file may hold them) and a missing category value.
    frame["SeniorCitizen"] = pd.Categorical(np.tile([0, 1], 30))
    frame["Contract"] = frame["Contract"].astype(object)
    frame.loc[0, "Contract"] = None
    frame["support_contacts_90d"] = pd.array([None, *range(59)], dtype="Int64")
    written = write_drift_reference(churn, frame, tmp_path / "drift")
    assert written is not None
    _, reference = _bundle(written)
    assert list(reference["SeniorCitizen"][:4]) == ["0", "1", "0", "1"]
    assert reference.loc[0, "Contract"] == "" and reference.loc[1, "Contract"] != ""
    assert reference.loc[0, "support_contacts_90d"] == "" and reference.loc[2, "support_contacts_90d"] == "1"
    assert not reference.isin(["None", "nan", "<NA>"]).any().any()


def test_monitoring_features_narrow_the_watched_inputs_in_spec_order(
    churn: ModelSpec, tmp_path: Path
) -> None:
    narrowed = churn.model_copy(
        update={"monitoring": churn.monitoring.model_copy(update={"features": ["Contract", "tenure"]})}
    )
    written = write_drift_reference(narrowed, churn_frame(churn, 200), tmp_path / "drift")
    assert written is not None
    bundle, reference = _bundle(written)
    assert [f["name"] for f in bundle["features"]] == ["tenure", "Contract"]
    assert list(reference.columns) == ["tenure", "Contract"]


def test_a_frame_without_a_watched_input_is_refused_and_nothing_written(
    churn: ModelSpec, tmp_path: Path
) -> None:
    frame = churn_frame(churn, 200).drop(columns=["tenure", "Contract"])
    with pytest.raises(InvalidInputError) as caught:
        write_drift_reference(churn, frame, tmp_path / "drift")
    assert "model 'churn'" in str(caught.value) and "['tenure', 'Contract']" in str(caught.value)
    assert not (tmp_path / "drift").exists()


def test_a_text_bundle_names_the_text_field_the_encoder_and_its_components(
    settings: Settings, tmp_path: Path
) -> None:
    intent = load_spec("intent", settings)
    frame = pd.DataFrame(
        {"text": [f"my bill {i} is wrong, can you check?" for i in range(1200)], "intent": "billing"}
    )
    written = write_drift_reference(intent, frame, tmp_path / "drift", seed=1)
    assert written is not None
    bundle, reference = _bundle(written)
    assert (bundle["kind"], bundle["detector"], bundle["text_field"]) == ("text", "ks", "text")
    assert (bundle["encoder"], bundle["components"]) == ("all-MiniLM-L6-v2", 16)
    assert (bundle["window_size"], bundle["min_window"], bundle["reference_rows"]) == (200, 50, 1000)
    assert "features" not in bundle
    assert list(reference.columns) == ["text"] and len(reference) == 1000


def test_a_spec_that_watches_nothing_writes_nothing(settings: Settings, tmp_path: Path) -> None:
    recommendation = load_spec("recommendation", settings)
    assert recommendation.monitoring.detector == "none"
    assert write_drift_reference(recommendation, pd.DataFrame({"x": [1]}), tmp_path / "drift") is None
    assert not (tmp_path / "drift").exists()
