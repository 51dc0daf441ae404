"""A tiny trained churn classifier and a predictor over an in-memory feature source."""

from __future__ import annotations

import pandas as pd
import pytest
import xgboost as xgb
from fastapi.testclient import TestClient

from cxops.data.generators import telco_subscribers
from cxops.data.loaders import coerce
from cxops.modeling import TabularClassifier
from cxops.modeling.tabular import encode_inputs
from cxops.privacy import pseudonymise
from cxops.serving import InMemoryFeatureSource, ModelPredictor
from cxops.serving.kserve_protocol import create_kserve_app
from cxops.serving.predictor import keyed_pseudonymiser
from cxops.specs import ModelSpec, load_model_code, load_spec

KEY = b"serving-test-key-" * 2


@pytest.fixture(scope="session")
def spec() -> ModelSpec:
    return load_spec("churn")


@pytest.fixture(scope="session")
def features(spec: ModelSpec) -> pd.DataFrame:
    """300 subscribers' model inputs, with their raw customer id and label."""
    raw = coerce(telco_subscribers(300, seed=21), spec)
    return load_model_code("churn").derive_features(raw)


@pytest.fixture(scope="session")
def classifier(spec: ModelSpec, features: pd.DataFrame) -> TabularClassifier:
    matrix = xgb.DMatrix(
        encode_inputs(features, spec.features.inputs),
        (features["Churn"] == "Yes").astype(int),
        enable_categorical=True,
    )
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3, "nthread": 1, "seed": 1}, matrix, 25)
    return TabularClassifier.from_spec(spec, booster, threshold=0.3, registry_version="7")


@pytest.fixture(scope="session")
def feature_source(spec: ModelSpec, features: pd.DataFrame) -> InMemoryFeatureSource:
    """The first 50 customers, keyed by their pseudonym as in the online store."""
    known = features.head(50)
    index = [pseudonymise(cid, KEY) for cid in known["customerID"]]
    return InMemoryFeatureSource(known[spec.features.names].set_axis(index))


@pytest.fixture(scope="session")
def predictor(spec, classifier, feature_source) -> ModelPredictor:
    return ModelPredictor(spec, classifier, features=feature_source, pseudonymise=keyed_pseudonymiser(KEY))


@pytest.fixture(scope="session")
def client(predictor: ModelPredictor) -> TestClient:
    return TestClient(create_kserve_app(predictor))


@pytest.fixture
def rows(spec: ModelSpec, features: pd.DataFrame) -> list[dict]:
    """Five full feature rows as a JSON client sends them (integers as ints)."""
    frame = features[spec.features.names].head(5).copy()
    for col in spec.features.inputs:
        if col.type == "integer":
            frame[col.name] = frame[col.name].astype("Int64")
    return [
        {k: (None if pd.isna(v) else v.item() if hasattr(v, "item") else v) for k, v in r.items()}
        for r in frame.to_dict("records")
    ]
