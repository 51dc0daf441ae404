import numpy as np
import pandas as pd
import xgboost as xgb

from cxops.data.generators import telco_subscribers
from cxops.data.loaders import coerce
from cxops.modeling import TabularClassifier
from cxops.modeling.tabular import encode_inputs
from cxops.specs import load_model_code, load_spec


def _features(n=400, seed=5):
    spec = load_spec("churn")
    return spec, load_model_code("churn").derive_features(coerce(telco_subscribers(n, seed=seed), spec))


def test_encoding_is_independent_of_the_batch():
    spec, frame = _features()
    whole = encode_inputs(frame, spec.features.inputs)
    one = encode_inputs(frame.iloc[[7]], spec.features.inputs)
    assert list(whole.columns) == spec.features.names
    for col in spec.features.inputs:
        if col.type == "category":
            assert list(one[col.name].cat.categories) == col.categories
            assert one[col.name].cat.codes.iloc[0] == whole[col.name].cat.codes.iloc[7]


def test_unknown_category_becomes_missing():
    spec, frame = _features(20)
    frame = frame.copy()
    frame.loc[frame.index[0], "Contract"] = "Weekly"
    assert encode_inputs(frame, spec.features.inputs)["Contract"].isna().iloc[0]


def test_save_load_predicts_the_same(tmp_path):
    spec, frame = _features()
    matrix = xgb.DMatrix(
        encode_inputs(frame, spec.features.inputs),
        (frame.Churn == "Yes").astype(int),
        enable_categorical=True,
    )
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3}, matrix, 20)
    model = TabularClassifier.from_spec(spec, booster, threshold=0.35, run="t")
    loaded = TabularClassifier.load(model.save(tmp_path / "m"))
    np.testing.assert_allclose(loaded.predict_proba(frame), model.predict_proba(frame), rtol=1e-6)
    assert loaded.threshold == 0.35 and loaded.negative_label == "No" and loaded.metadata == {"run": "t"}
    labels = loaded.labels(np.array([0.1, 0.35, 0.9]))
    assert list(labels) == ["No", "Yes", "Yes"]
    assert loaded.predict_proba(pd.DataFrame(columns=frame.columns)).shape == (0,)


def test_model_matrix_predicts_exactly_what_the_categorical_frame_does():
    """Serving and batch scoring hand XGBoost category positions in a float array; the trees must give
    the predictions of the pandas categoricals they were trained on, for one row and for many, with
    missing, unknown and non-text values."""
    spec, frame = _features()
    labels = (frame.Churn == "Yes").astype(int)
    matrix = xgb.DMatrix(encode_inputs(frame, spec.features.inputs), labels, enable_categorical=True)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 4, "seed": 1}, matrix, 20)
    classifier = TabularClassifier.from_spec(spec, booster, 0.5)
    odd = frame[spec.features.names].copy().astype({"Contract": object, "SeniorCitizen": object})
    odd.loc[odd.index[0:5], "Contract"] = None
    odd.loc[odd.index[5:9], "Contract"] = "Weekly"
    odd.loc[odd.index[9:12], "PaymentMethod"] = float("nan")
    odd.loc[odd.index[12:15], "SeniorCitizen"] = pd.NA
    odd["tenure"] = odd["tenure"].astype("Int64")
    odd.loc[odd.index[15:18], "tenure"] = pd.NA

    def categorical_path(rows):
        encoded = encode_inputs(rows, spec.features.inputs)
        return booster.predict(xgb.DMatrix(encoded, enable_categorical=True))

    for rows in (odd.iloc[[0]], odd.iloc[3:10], odd.iloc[:32], odd.iloc[:33], odd):
        np.testing.assert_array_equal(classifier.predict_proba(rows), categorical_path(rows))


def test_columns_as_lists_score_like_the_frame():
    """A request's validated columns (plain lists, None when missing) need no DataFrame."""
    spec, frame = _features(60)
    labels = (frame.Churn == "Yes").astype(int)
    matrix = xgb.DMatrix(encode_inputs(frame, spec.features.inputs), labels, enable_categorical=True)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3, "seed": 2}, matrix, 10)
    classifier = TabularClassifier.from_spec(spec, booster, 0.5)
    rows = frame[spec.features.names].head(40).astype(object)
    rows.iloc[2, 0] = None
    columns = {name: [None if pd.isna(v) else v for v in rows[name]] for name in spec.features.names}
    np.testing.assert_array_equal(classifier.predict_proba(columns), classifier.predict_proba(rows))
    np.testing.assert_array_equal(
        classifier.predict_proba({n: v[:3] for n, v in columns.items()}),
        classifier.predict_proba(rows.head(3)),
    )
    assert classifier.predict_proba({n: [] for n in spec.features.names}).shape == (0,)
