"""ModelPredictor: every request is checked against the spec's inputs before the model sees it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from cxops.errors import ConflictError, CXOpsError, InvalidInputError, NotFoundError
from cxops.serving import InMemoryFeatureSource, InputValidationError, ModelPredictor
from cxops.serving.feature_source import FeatureSourceUnavailableError, LazyFeatureSource
from cxops.serving.schema import feature_row_model


def _problem(exc: pytest.ExceptionInfo[InputValidationError], field: str) -> dict:
    return next(p for p in exc.value.problems if p["field"] == field)


def test_rows_score_like_the_classifier(predictor, classifier, rows, spec) -> None:
    predictions = predictor.predict_rows(rows)
    expected = classifier.predict_proba(pd.DataFrame(rows))
    np.testing.assert_allclose([p.probability for p in predictions], expected, rtol=1e-6)
    assert [p.label for p in predictions] == ["Yes" if e >= 0.3 else "No" for e in expected]
    first = predictions[0].to_dict()
    assert first["threshold"] == 0.3 and first["model_name"] == "churn" and first["model_version"] == "7"
    assert "customer_id" not in first


def test_missing_feature_names_row_field_and_allowed_range(predictor, rows) -> None:
    del rows[2]["tenure"]
    with pytest.raises(InputValidationError) as exc:
        predictor.predict_rows(rows)
    assert exc.value.status_code == 422
    assert exc.value.problems == [
        {"row": 2, "field": "tenure", "message": "missing; expected an integer >= 0 and <= 120"}
    ]
    assert "row 2 field 'tenure': missing" in str(exc.value)


def test_unknown_category_lists_the_allowed_values(predictor, rows) -> None:
    rows[0]["Contract"] = "Weekly"
    with pytest.raises(InputValidationError) as exc:
        predictor.predict_rows(rows)
    message = _problem(exc, "Contract")["message"]
    assert "'Weekly'" in message and "['Month-to-month', 'One year', 'Two year']" in message


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("MonthlyCharges", "70.5", "got str '70.5'"),
        ("MonthlyCharges", True, "got bool True"),
        ("Contract", 1, "expected text"),
        ("tenure", 3.5, "fraction 3.5"),
        ("tenure", 121, "out of range; expected an integer >= 0 and <= 120"),
        ("charge_trend", -501.0, "out of range; expected a number >= -500 and <= 500"),
        ("MonthlyCharges", float("inf"), "finite"),
        ("TotalCharges", None, "is null but 'TotalCharges' is required"),
    ],
)
def test_bad_values_are_rejected_with_the_reason(predictor, rows, field, value, expected) -> None:
    rows[1][field] = value
    with pytest.raises(InputValidationError) as exc:
        predictor.predict_rows(rows)
    problem = _problem(exc, field)
    assert problem["row"] == 1 and expected in problem["message"]


def test_nullable_input_accepts_null_and_integral_floats(predictor, classifier, rows) -> None:
    rows[0]["support_contacts_90d"] = None
    rows[1]["tenure"] = float(rows[1]["tenure"])
    proba = [p.probability for p in predictor.predict_rows(rows)]
    frame = pd.DataFrame(rows).astype({"support_contacts_90d": float})
    np.testing.assert_allclose(proba, classifier.predict_proba(frame), rtol=1e-6)


def test_unknown_fields_and_non_objects_are_reported_for_every_row(predictor, rows) -> None:
    rows[0]["Tenure"] = 5
    rows[3] = ["not", "a", "row"]
    with pytest.raises(InputValidationError) as exc:
        predictor.predict_rows(rows)
    assert [(p["row"], p["field"]) for p in exc.value.problems] == [(0, "Tenure"), (3, None)]
    assert "unknown fields ['Tenure']" in exc.value.problems[0]["message"]


def test_batch_limits(predictor, rows, spec) -> None:
    with pytest.raises(InvalidInputError, match="holds no rows") as empty:
        predictor.predict_rows([])
    assert empty.value.status_code == 422
    with pytest.raises(InvalidInputError, match=r"batch of 1001 rows exceeds the limit of 1000") as big:
        predictor.predict_rows(rows * 200 + rows[:1])
    assert big.value.status_code == 413 and spec.serving.max_batch_size == 1000


def test_customers_are_looked_up_by_pseudonym(predictor, features, spec) -> None:
    ids = list(features["customerID"].iloc[[4, 0, 4]])
    predictions = predictor.predict_customers(ids)
    expected = predictor.classifier.predict_proba(features[spec.features.names].iloc[[4, 0, 4]])
    np.testing.assert_allclose([p.probability for p in predictions], expected, rtol=1e-6)
    assert [p.customer_id for p in predictions] == ids


def test_unknown_customer_is_a_404_naming_the_id(predictor, features) -> None:
    known = features["customerID"].iloc[0]
    unknown = features["customerID"].iloc[200]  # beyond the 50 in the online store
    with pytest.raises(NotFoundError, match=f"customer\\(s\\) \\['{unknown}'\\]") as exc:
        predictor.predict_customers([known, unknown])
    assert exc.value.status_code == 404


def test_customer_ids_must_be_text(predictor) -> None:
    with pytest.raises(InvalidInputError, match=r"entries \[1, 2\]"):
        predictor.predict_customers(["a", 5, " "])


def test_without_a_feature_source_customer_requests_are_503(spec, classifier) -> None:
    bare = ModelPredictor(spec, classifier)
    with pytest.raises(FeatureSourceUnavailableError, match="without an online feature store") as exc:
        bare.predict_customers(["7590-VHVEG"])
    assert exc.value.status_code == 503 and bare.model_version == "7"


def test_a_feature_store_that_cannot_start_is_a_503_naming_the_cause(spec, classifier) -> None:
    def broken() -> InMemoryFeatureSource:
        raise RuntimeError("redis refused the connection")

    lazy = LazyFeatureSource(broken, "test store")
    predictor = ModelPredictor(spec, classifier, features=lazy, pseudonymise=str.upper)
    match = "online features are unavailable \\(test store\\).*redis refused"
    with pytest.raises(CXOpsError, match=match) as exc:
        predictor.predict_customers(["x"])
    assert exc.value.status_code == 503


def test_warm_up_builds_the_source_once_and_leaves_failures_to_the_first_lookup(
    spec, classifier, features
) -> None:
    built: list[int] = []

    def build() -> InMemoryFeatureSource:
        built.append(1)
        return InMemoryFeatureSource(features.set_index(spec.data.entity_key))

    lazy = LazyFeatureSource(build, "test store")
    lazy.warm_up().join(10)
    assert built == [1]
    pid = features[spec.data.entity_key].iloc[0]
    assert lazy.online_features(spec, [pid])[1] == []
    assert built == [1]

    def broken() -> InMemoryFeatureSource:
        raise RuntimeError("redis refused the connection")

    failing = LazyFeatureSource(broken, "test store")
    failing.warm_up().join(10)  # no exception escapes the thread
    with pytest.raises(FeatureSourceUnavailableError, match="redis refused"):
        failing.online_features(spec, [pid])


def test_online_frames_with_the_join_key_column_are_accepted(spec, classifier, features) -> None:
    """The Feast client returns the join key first and a row (all missing) for unknown customers."""

    class FeastLike:
        def online_features(self, spec_, pids):
            frame = features[spec.features.names].head(len(pids)).copy()
            frame.insert(0, spec.features.join_key, pids)
            return frame, []

    predictor = ModelPredictor(spec, classifier, features=FeastLike(), pseudonymise=str.upper)
    proba = [p.probability for p in predictor.predict_customers(["a", "b"])]
    np.testing.assert_allclose(proba, classifier.predict_proba(features.head(2)), rtol=1e-6)


def test_classifier_and_spec_must_agree_on_inputs(spec, classifier) -> None:
    other = spec.model_copy(
        update={"features": spec.features.model_copy(update={"inputs": spec.features.inputs[:-1]})}
    )
    with pytest.raises(ConflictError, match="charge_trend"):
        ModelPredictor(other, classifier)


def test_feature_row_model_types_the_json_api(spec, rows) -> None:
    row_model = feature_row_model(spec)
    parsed = row_model.model_validate(rows[0])
    assert parsed.model_dump(by_alias=True) == rows[0]
    schema = row_model.model_json_schema()
    assert schema["properties"]["Contract"]["enum"] == ["Month-to-month", "One year", "Two year"]
    assert (schema["properties"]["tenure"]["minimum"], schema["properties"]["tenure"]["maximum"]) == (0, 120)
    for field, value in [("Contract", "Weekly"), ("tenure", "5"), ("tenure", 500), ("gender", "Male")]:
        with pytest.raises(ValidationError):
            row_model.model_validate({**rows[0], field: value})
    assert row_model.model_validate({**rows[0], "support_contacts_90d": None})


def test_from_registry_serves_the_registered_version(tmp_path, spec, classifier, rows) -> None:
    from cxops.config import Settings
    from cxops.registry import Registry

    settings = Settings(home=tmp_path)
    with Registry.from_settings(settings) as registry:
        for version in (1, 2):
            path = classifier.save(tmp_path / f"v{version}")
            registry.register_version(
                "churn",
                metrics={},
                artifacts={"model": path},
                params={},
                lineage={},
                owner="o@example.com",
                team="t",
                created_by="test",
                dataset_version=None,
            )
            assert registry.get_version("churn").version == version
    latest = ModelPredictor.from_registry("churn", settings)
    first = ModelPredictor.from_registry("churn", settings, version=1)
    assert (latest.model_version, first.model_version) == ("2", "1")
    assert latest.predict_rows(rows)[0].probability == first.predict_rows(rows)[0].probability
    assert isinstance(latest.features, LazyFeatureSource)
