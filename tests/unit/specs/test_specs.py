from pathlib import Path

import pytest
import yaml

from cxops.config import Settings
from cxops.errors import InvalidInputError, NotFoundError
from cxops.specs import list_specs, load_model_code, load_spec


def test_churn_spec_loads_and_names_its_parts():
    spec = load_spec("churn")
    assert spec.name == "churn"
    assert spec.features.feature_service == "churn_features"
    assert "gender" in spec.evaluation.bias_segments
    assert "gender" not in spec.features.names  # protected attribute: measured, never a model input
    assert "churn" in list_specs()


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(NotFoundError, match="known models: .*churn"):
        load_spec("no-such-model")


def _settings_with_spec(tmp_path: Path, mutate) -> Settings:
    data = yaml.safe_load((Settings().models_dir / "churn" / "spec.yaml").read_text())
    mutate(data)
    (tmp_path / "models" / "churn").mkdir(parents=True)
    (tmp_path / "models" / "churn" / "spec.yaml").write_text(yaml.safe_dump(data))
    return Settings(home=tmp_path / "home", root=tmp_path)


def test_unknown_field_is_rejected(tmp_path):
    settings = _settings_with_spec(tmp_path, lambda d: d.update(colour="blue"))
    with pytest.raises(InvalidInputError, match="colour"):
        load_spec("churn", settings)


def test_bias_segment_must_be_a_raw_column(tmp_path):
    settings = _settings_with_spec(tmp_path, lambda d: d["evaluation"].update(bias_segments=["shoe_size"]))
    with pytest.raises(InvalidInputError, match="shoe_size"):
        load_spec("churn", settings)


def test_category_column_needs_categories(tmp_path):
    def mutate(d):
        d["data"]["columns"][1].pop("categories")

    settings = _settings_with_spec(tmp_path, mutate)
    with pytest.raises(InvalidInputError, match="categories"):
        load_spec("churn", settings)


def test_model_code_is_importable():
    code = load_model_code("churn")
    assert callable(code.derive_features)
