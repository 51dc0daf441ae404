"""In-memory telemetry, and a small churn model served over an in-memory feature source."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest
import xgboost as xgb
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from cxops.data.generators import telco_subscribers
from cxops.data.loaders import coerce
from cxops.modeling import TabularClassifier
from cxops.modeling.tabular import encode_inputs
from cxops.privacy import pseudonymise
from cxops.serving import InMemoryFeatureSource, ModelPredictor
from cxops.serving.predictor import keyed_pseudonymiser
from cxops.specs import ModelSpec, load_model_code, load_spec
from cxops.telemetry import Telemetry, telemetry_with

KEY = b"telemetry-test-key-" * 2
KNOWN = 20
"""The first customers are in the online store; the others are unknown to it."""


@dataclass
class Recorded:
    """Providers whose spans and metrics stay in memory."""

    telemetry: Telemetry
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader

    def span(self, name: str) -> ReadableSpan:
        (span,) = [s for s in self.spans.get_finished_spans() if s.name == name]
        return span

    def points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """(attributes, data point) of every point of the metric `name` collected now."""
        data = self.reader.get_metrics_data()
        return [
            (dict(point.attributes), point)
            for resource in (data.resource_metrics if data else [])
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
        ]


@pytest.fixture
def recorded() -> Recorded:
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    telemetry = telemetry_with("cxops-model-churn", span_exporter=spans, metric_reader=reader, version="7")
    yield Recorded(telemetry, spans, reader)
    telemetry.shutdown()


@pytest.fixture(scope="session")
def churn_spec() -> ModelSpec:
    return load_spec("churn")


@pytest.fixture(scope="session")
def churn_features(churn_spec: ModelSpec) -> pd.DataFrame:
    """120 subscribers' model inputs, with their raw customer id and label."""
    return load_model_code("churn").derive_features(coerce(telco_subscribers(120, seed=5), churn_spec))


@pytest.fixture(scope="session")
def churn_classifier(churn_spec: ModelSpec, churn_features: pd.DataFrame) -> TabularClassifier:
    matrix = xgb.DMatrix(
        encode_inputs(churn_features, churn_spec.features.inputs),
        (churn_features["Churn"] == "Yes").astype(int),
        enable_categorical=True,
    )
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2, "nthread": 1, "seed": 1}, matrix, 5)
    return TabularClassifier.from_spec(churn_spec, booster, threshold=0.3, registry_version="7")


@pytest.fixture(scope="session")
def customers(churn_features: pd.DataFrame) -> list[str]:
    """Raw customer ids: the first `KNOWN` are in the online store."""
    return list(churn_features["customerID"])


@pytest.fixture
def make_predictor(
    churn_spec: ModelSpec, churn_classifier: TabularClassifier, churn_features: pd.DataFrame
) -> Callable[[Telemetry], ModelPredictor]:
    """`make_predictor(telemetry)`: the churn predictor, version 7, looking customers up in memory."""
    known = churn_features.head(KNOWN)
    index = [pseudonymise(cid, KEY) for cid in known["customerID"]]
    source = InMemoryFeatureSource(known[churn_spec.features.names].set_axis(index))

    def make(telemetry: Telemetry) -> ModelPredictor:
        return ModelPredictor(
            churn_spec,
            churn_classifier,
            features=source,
            pseudonymise=keyed_pseudonymiser(KEY),
            telemetry=telemetry,
        )

    return make
