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


def _text_spec_settings(tmp_path: Path, mutate) -> Settings:
    data = yaml.safe_load((Settings().models_dir / "intent" / "spec.yaml").read_text())
    mutate(data)
    (tmp_path / "models" / "intent").mkdir(parents=True)
    (tmp_path / "models" / "intent" / "spec.yaml").write_text(yaml.safe_dump(data))
    return Settings(home=tmp_path / "home", root=tmp_path)


@pytest.mark.parametrize("name", ["intent", "sentiment"])
def test_text_specs_read_one_text_input_and_declare_their_label_sets(name):
    spec = load_spec(name)
    assert spec.task == "text_classification" and spec.features is None
    assert spec.input_names == ["text"] and spec.inputs[0].type == "text"
    assert spec.inputs[0].max_length == 5000
    assert set(spec.text.languages) == {"en", "fr"}
    assert len(spec.label_categories) >= 3


def test_intent_keeps_the_telecom_and_the_banking77_label_sets_apart():
    spec = load_spec("intent")
    assert "network_outage" in spec.label_categories and len(spec.label_categories) == 12
    assert len(spec.data.real_dataset_labels) == 77 and "card_arrival" in spec.data.real_dataset_labels
    assert spec.data.real_dataset_columns == {"category": "intent"}


def test_a_text_model_needs_its_text_section(tmp_path):
    settings = _text_spec_settings(tmp_path, lambda d: d.pop("text"))
    with pytest.raises(InvalidInputError, match="needs 'text'"):
        load_spec("intent", settings)


def test_the_text_column_must_have_type_text(tmp_path):
    def mutate(d):
        d["text"]["column"] = "channel"

    with pytest.raises(InvalidInputError, match="type 'text'"):
        load_spec("intent", _text_spec_settings(tmp_path, mutate))


def test_length_bounds_only_apply_to_text_columns(tmp_path):
    def mutate(d):
        d["data"]["columns"][0]["max_length"] = 10

    with pytest.raises(InvalidInputError, match="type 'text' only"):
        load_spec("intent", _text_spec_settings(tmp_path, mutate))


def test_a_binary_model_needs_a_positive_label_among_its_categories(tmp_path):
    settings = _settings_with_spec(tmp_path, lambda d: d["data"].update(positive_label="Maybe"))
    with pytest.raises(InvalidInputError, match="positive_label"):
        load_spec("churn", settings)


@pytest.mark.parametrize("name", ["intent", "sentiment"])
def test_text_models_batch_their_classify_route_within_the_request_limit(name):
    serving = load_spec(name).serving
    assert serving.adaptive_batching is not None
    assert 2 <= serving.adaptive_batching.max_batch_size <= serving.max_batch_size


def test_adaptive_batching_is_refused_on_a_tabular_model(tmp_path):
    def mutate(d):
        d["serving"]["adaptive_batching"] = {"max_batch_size": 32}

    with pytest.raises(InvalidInputError, match="adaptive_batching applies to text models only"):
        load_spec("churn", _settings_with_spec(tmp_path, mutate))


@pytest.mark.parametrize(
    ("batching", "message"),
    [
        ({"max_batch_size": 512}, r"adaptive_batching.max_batch_size \(512\) exceeds serving.max_batch_size"),
        ({"max_batch_size": 1}, "greater than or equal to 2"),
        ({"max_latency_ms": 0}, "greater than or equal to 1"),
        ({"max_wait": 5}, "max_wait"),
    ],
)
def test_adaptive_batching_limits_are_checked(tmp_path, batching, message):
    def mutate(d):
        d["serving"]["adaptive_batching"] = batching

    with pytest.raises(InvalidInputError, match=message):
        load_spec("intent", _text_spec_settings(tmp_path, mutate))
