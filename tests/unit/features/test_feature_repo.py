"""The Feast repository (feature_repo/) against the churn spec, and how its modules are loaded."""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest

from cxops.config import Settings
from cxops.features import FeatureDefinitionError, for_spec, load_definitions, service_fields
from cxops.specs import Column, load_spec

# Written out rather than taken from cxops.features, so the mapping itself is under test.
FEAST_TYPE_OF = {"category": "String", "integer": "Int64", "number": "Float64"}


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    return Settings(home=tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def spec(settings):
    return load_spec("churn", settings)


@pytest.fixture(scope="module")
def definitions(settings):
    return load_definitions(settings.feature_repo_dir)


def test_feature_service_serves_exactly_the_spec_inputs_with_their_types(spec, definitions) -> None:
    service = definitions.feature_services[spec.features.feature_service]
    expected = {c.name: FEAST_TYPE_OF[c.type] for c in spec.features.inputs}
    assert service_fields(service) == expected
    # ... in spec order, view after view.
    assert list(service_fields(service)) == spec.features.names


def test_for_spec_returns_the_entity_and_views_in_spec_order(spec, definitions) -> None:
    model = for_spec(spec, definitions)
    assert model.entity.name == "customer" and model.entity.join_key == "customer_pid"
    assert str(model.entity.value_type) == "ValueType.STRING"
    assert [v.name for v in model.views] == spec.features.feature_views
    assert [p.name for p in model.service.feature_view_projections] == spec.features.feature_views
    assert all(v.entities == ["customer"] for v in model.views)


def test_views_read_relative_parquet_sources_with_event_time_and_a_400_day_ttl(spec, definitions) -> None:
    for name in spec.features.feature_views:
        view = definitions.feature_views[name]
        assert view.batch_source.path == f"data/{name}.parquet"
        assert view.batch_source.timestamp_field == "event_timestamp"
        assert view.ttl == timedelta(days=400)
        assert [c.name for c in view.entity_columns] == ["customer_pid"]


def test_every_view_and_field_is_tagged_with_declared_categories_and_ownership(spec, definitions) -> None:
    declared = set(spec.privacy.personal_data_categories)
    for name in spec.features.feature_views:
        view = definitions.feature_views[name]
        field_categories = [f.tags["data_category"] for f in view.features]
        assert set(field_categories) <= declared, name
        assert view.tags["data_category"].split(",") == list(dict.fromkeys(field_categories))
        assert view.tags["team"] == spec.team
        assert view.tags["owner"] == view.owner == spec.owner.email
        assert view.tags["personal_data"] == "true"
    entity = definitions.entities["customer"]
    assert entity.tags["data_category"] == "identifier" and "identifier" in declared
    assert entity.tags["pseudonymised"] == "true"


def test_demographics_used_only_for_bias_are_not_features(definitions) -> None:
    served = {f.name for v in definitions.feature_views.values() for f in v.features}
    assert "gender" not in served and "customerID" not in served and "Churn" not in served


def _spec_with_inputs(spec, inputs):
    return spec.model_copy(update={"features": spec.features.model_copy(update={"inputs": inputs})})


def test_for_spec_reports_missing_extra_and_mistyped_inputs(spec, definitions) -> None:
    inputs = list(spec.features.inputs)
    extra = _spec_with_inputs(spec, [*inputs, Column(name="tickets_open", type="integer")])
    with pytest.raises(FeatureDefinitionError, match="inputs not served: \\['tickets_open'\\]"):
        for_spec(extra, definitions)
    fewer = _spec_with_inputs(spec, [c for c in inputs if c.name != "charge_trend"])
    with pytest.raises(FeatureDefinitionError, match="not inputs: \\['charge_trend'\\]"):
        for_spec(fewer, definitions)
    retyped = _spec_with_inputs(
        spec, [Column(name="tenure", type="number") if c.name == "tenure" else c for c in inputs]
    )
    with pytest.raises(FeatureDefinitionError, match="tenure is Int64, expected Float64"):
        for_spec(retyped, definitions)
    renamed = spec.model_copy(update={"features": spec.features.model_copy(update={"join_key": "cid"})})
    with pytest.raises(FeatureDefinitionError, match="joins on 'customer_pid'"):
        for_spec(renamed, definitions)


def test_a_second_repository_with_the_same_module_names_is_loaded_afresh(settings, tmp_path) -> None:
    copy = tmp_path / "feature_repo"
    shutil.copytree(settings.feature_repo_dir, copy, ignore=shutil.ignore_patterns("data", "__pycache__"))
    views = copy / "customer_features.py"
    views.write_text(views.read_text().replace("timedelta(days=400)", "timedelta(days=30)"))

    assert load_definitions(copy).feature_views["customer_billing"].ttl == timedelta(days=30)
    original = load_definitions(settings.feature_repo_dir)
    assert original.feature_views["customer_billing"].ttl == timedelta(days=400)


def test_a_folder_without_feature_store_yaml_is_refused(tmp_path) -> None:
    with pytest.raises(FeatureDefinitionError, match="not a Feast repository"):
        load_definitions(tmp_path)
