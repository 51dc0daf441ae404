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
