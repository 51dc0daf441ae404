"""A churn bento end to end: BentoML model -> bento (with Dockerfile) -> `bentoml serve` -> KServe clients.

One server for the module, on a free port, reading customer features from a real Feast SQLite online
store. The KServe SDK's own REST client checks V2; plain HTTP checks V1, the JSON API and bad requests.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
import yaml
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from pydantic import SecretStr

from cxops.config import Settings
from cxops.data.generators import telco_subscribers
from cxops.data.loaders import coerce
from cxops.features import FeatureStoreClient
from cxops.modeling import TabularClassifier
from cxops.modeling.tabular import encode_inputs
from cxops.privacy import pseudonymise_frame
from cxops.serving._bentoml_env import use_bentoml_home
from cxops.serving.packaging import bento_dockerfile, build_bento, save_bento_model
from cxops.serving.server import ServerError, start_server
from cxops.specs import load_model_code, load_spec

pytestmark = pytest.mark.integration

ONLINE = 40
"""The first customers are materialized into the online store; the others are unknown to it."""


def _train(spec, features: pd.DataFrame) -> TabularClassifier:
    matrix = xgb.DMatrix(
        encode_inputs(features, spec.features.inputs),
        (features["Churn"] == "Yes").astype(int),
        enable_categorical=True,
    )
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3, "nthread": 1, "seed": 3}, matrix, 30)
    return TabularClassifier.from_spec(spec, booster, threshold=0.35)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    previous_home = os.environ.get("BENTOML_HOME")  # packaging points this process's BentoML at the test home
    settings = Settings(
        home=tmp_path_factory.mktemp("home"),
        feast_project=f"serving_{uuid.uuid4().hex[:8]}",
        pseudonym_key=SecretStr("integration-serving-key-0123456789"),
    )
    spec = load_spec("churn", settings)
    features = load_model_code("churn", settings).derive_features(
        coerce(telco_subscribers(300, seed=31), spec)
    )
    classifier = _train(spec, features)
    classifier_dir = classifier.save(settings.artifacts_dir / "churn" / "1" / "model")

    store = FeatureStoreClient(settings)
    store.write_offline(spec, pseudonymise_frame(features.head(ONLINE), spec, settings.pseudonym_key_bytes()))
    store.apply(spec)
    store.materialize(datetime.now(UTC))

    model_tag = save_bento_model(spec, classifier_dir, 1, settings)
    bento_tag = build_bento(spec, model_tag, settings)
    server = start_server(bento_tag, port=0, settings=settings, timeout=300)
    yield SimpleNamespace(
        settings=settings,
        spec=spec,
        features=features,
        classifier=classifier,
        model_tag=model_tag,
        bento_tag=bento_tag,
        server=server,
        url=server.url,
    )
    server.stop()
    if previous_home is None:
        os.environ.pop("BENTOML_HOME", None)
    else:
        os.environ["BENTOML_HOME"] = previous_home
    assert not server.alive()


def _rows(spec, frame: pd.DataFrame) -> list[dict]:
    out = frame[spec.features.names].copy()
    for col in spec.features.inputs:
        if col.type == "integer":
            out[col.name] = out[col.name].astype("Int64")
    return [
        {k: (None if pd.isna(v) else v.item() if hasattr(v, "item") else v) for k, v in r.items()}
        for r in out.to_dict("records")
    ]


def _tensors(spec, rows: list[dict]) -> list[dict]:
    kinds = {"category": "BYTES", "integer": "INT64", "number": "FP64"}
    return [
        {"name": c.name, "shape": [len(rows)], "datatype": kinds[c.type], "data": [r[c.name] for r in rows]}
        for c in spec.features.inputs
    ]


def _post(served, path: str, **kwargs) -> httpx.Response:
    return httpx.post(f"{served.url}{path}", timeout=120, **kwargs)


def test_bento_carries_model_sources_pins_and_dockerfile(served) -> None:
    import bentoml

    use_bentoml_home(served.settings)
    bento = bentoml.bentos.get(served.bento_tag)
    root = Path(bento.path)
    info = yaml.safe_load((root / "bento.yaml").read_text())
    assert [m["tag"] for m in info["models"]] == [served.model_tag]
    assert info["args"] == {"model": "churn", "model_tag": served.model_tag}
    assert {"name": "CXOPS_MODEL_TAG", "value": served.model_tag, "stage": "all"} in info["envs"]
    assert Path(bentoml.models.get(served.model_tag).path).is_relative_to(served.settings.bentoml_home)
    assert root.is_relative_to(served.settings.bentoml_home)
    for source in (
        "serving/service.py",
        "platform/cxops/serving/predictor.py",
        "models/churn/spec.yaml",
        "models/churn/model.py",
        "feature_repo",
    ):
        assert (root / "src" / source).exists(), source
    assert not list((root / "src").rglob("__pycache__"))
    requirements = (root / "env" / "python" / "requirements.txt").read_text().split()
    assert {"xgboost==3.2.0", "feast[redis]==0.47.0", "bentoml==1.4.39", "pandas==2.3.3"} <= set(requirements)
    assert not [r for r in requirements if r.startswith(("ray==", "kfp==", "torch=="))]
    dockerfile = bento_dockerfile(served.bento_tag, served.settings)
    assert dockerfile == root / "env" / "docker" / "Dockerfile"
    text = dockerfile.read_text()
    assert f"CXOPS_MODEL_TAG={served.model_tag}" in text and "CXOPS_SERVING_MODEL=churn" in text
    assert "libgomp1" in text and "EXPOSE 3000" in text


def test_kserve_client_v2_infer_matches_the_in_process_classifier(served) -> None:
    spec, frame = served.spec, served.features.iloc[100:140]
    rows = _rows(spec, frame)
    expected = served.classifier.predict_proba(frame)

    async def infer():
        client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=120))
        try:
            ready = await client.is_server_ready(served.url)
            inputs = []
            for col in spec.features.inputs:
                values = [r[col.name] for r in rows]
                if col.type == "category":
                    tensor = InferInput(col.name, [len(rows)], "BYTES")
                    tensor.set_data_from_numpy(np.array(values, dtype=object), binary_data=False)
                else:
                    tensor = InferInput(col.name, [len(rows)], "FP64")
                    tensor.set_data_from_numpy(np.array(values, dtype=np.float64), binary_data=False)
                inputs.append(tensor)
            json_response = await client.infer(
                served.url, InferRequest("churn", inputs, request_id="it-1"), model_name="churn"
            )
            for tensor in inputs:  # the SDK's default: binary tensor data after a JSON header
                tensor.set_data_from_numpy(tensor.as_numpy(), binary_data=True)
            binary_response = await client.infer(
                served.url, InferRequest("churn", inputs), model_name="churn"
            )
            return ready, json_response, binary_response
        finally:
            await client.close()

    ready, response, binary = asyncio.run(infer())
    assert ready is True
    assert (response.id, response.model_name) == ("it-1", "churn")
    outputs = {o.name: o for o in response.outputs}
    np.testing.assert_allclose(outputs["probability"].as_numpy(), expected, rtol=1e-6)
    assert list(outputs["label"].data) == list(served.classifier.labels(expected))
    np.testing.assert_allclose(binary.outputs[0].as_numpy(), expected, rtol=1e-6)


def test_v1_and_json_api_agree(served) -> None:
    spec, frame = served.spec, served.features.iloc[200:205]
    rows = _rows(spec, frame)
    expected = served.classifier.predict_proba(frame)
    v1 = _post(served, "/v1/models/churn:predict", json={"instances": rows})
    assert v1.status_code == 200, v1.text
    np.testing.assert_allclose([p["probability"] for p in v1.json()["predictions"]], expected, rtol=1e-6)
    api = _post(served, "/predict", json={"rows": rows})
    assert api.status_code == 200, api.text
    assert [p["probability"] for p in api.json()] == [p["probability"] for p in v1.json()["predictions"]]
    assert {p["model_version"] for p in api.json()} == {"1"}
    assert httpx.get(f"{served.url}/v2/models/churn", timeout=30).json()["versions"] == ["1"]
    assert httpx.get(f"{served.url}/readyz", timeout=30).status_code == 200


def test_customers_are_scored_from_the_feast_online_store(served) -> None:
    features = served.features
    picks = [5, 0, 39]
    ids = list(features["customerID"].iloc[picks])
    expected = served.classifier.predict_proba(features.iloc[picks])
    tensor = {"name": "customer_id", "shape": [3], "datatype": "BYTES", "data": ids}
    v2 = _post(served, "/v2/models/churn/infer", json={"inputs": [tensor]})
    assert v2.status_code == 200, v2.text
    np.testing.assert_allclose(v2.json()["outputs"][0]["data"], expected, rtol=1e-6)
    api = _post(served, "/predict_customers", json={"customer_ids": ids})
    assert api.status_code == 200, api.text
    assert [p["customer_id"] for p in api.json()] == ids
    np.testing.assert_allclose([p["probability"] for p in api.json()], expected, rtol=1e-6)


def test_bad_requests_are_4xx_naming_the_problem(served) -> None:
    spec = served.spec
    rows = _rows(spec, served.features.iloc[50:53])
    unknown_id = served.features["customerID"].iloc[ONLINE + 10]
    infer = "/v2/models/churn/infer"

    missing = [dict(r) for r in rows]
    del missing[1]["tenure"]
    wrong_type = [dict(r) for r in rows]
    wrong_type[0]["MonthlyCharges"] = "seventy"
    unknown_category = [dict(r) for r in rows]
    unknown_category[2]["PaymentMethod"] = "Bitcoin"
    cases = [
        (
            infer,
            {"json": {"inputs": [t for t in _tensors(spec, rows) if t["name"] != "tenure"]}},
            422,
            "missing inputs ['tenure']",
        ),
        ("/v1/models/churn:predict", {"json": {"instances": missing}}, 422, "row 1 field 'tenure': missing"),
        (
            infer,
            {"json": {"inputs": _tensors(spec, wrong_type)}},
            422,
            "row 0 field 'MonthlyCharges': expected a number >= 0 and <= 500; got str 'seventy'",
        ),
        (
            infer,
            {"json": {"inputs": _tensors(spec, unknown_category)}},
            422,
            "row 2 field 'PaymentMethod': unknown category 'Bitcoin'",
        ),
        (
            infer,
            {
                "json": {
                    "inputs": [
                        {"name": "customer_id", "shape": [1], "datatype": "BYTES", "data": [unknown_id]}
                    ]
                }
            },
            404,
            f"customer(s) ['{unknown_id}']",
        ),
        ("/v1/models/churn:predict", {"json": {"instances": [{"customer_id": unknown_id}]}}, 404, unknown_id),
        (infer, {"content": b"", "headers": {"content-type": "application/json"}}, 400, "body is empty"),
        (infer, {"json": {"inputs": _tensors(spec, rows * 334)}}, 413, "batch of 1002 rows exceeds"),
        ("/v2/models/intent/infer", {"json": {"inputs": _tensors(spec, rows)}}, 404, "not served here"),
    ]
    for path, kwargs, status, message in cases:
        response = _post(served, path, **kwargs)
        assert response.status_code == status, (path, status, response.text)
        assert message in response.json()["error"], (message, response.text)
    # The typed JSON API rejects the same rows through its schema (BentoML answers 400) and maps
    # platform errors to their status.
    response = _post(served, "/predict", json={"rows": unknown_category})
    assert response.status_code == 400 and "PaymentMethod" in response.text
    response = _post(served, "/predict_customers", json={"customer_ids": [unknown_id]})
    assert response.status_code == 404 and unknown_id in response.text
    response = _post(served, "/predict", json={"rows": rows * 334})
    assert response.status_code == 413 and "batch of 1002 rows exceeds" in response.text


def test_a_server_that_cannot_start_reports_its_log(tmp_path) -> None:
    settings = Settings(home=tmp_path)
    with pytest.raises(ServerError, match="exited with status") as exc:
        start_server("cxops-nothing:missing", port=0, settings=settings, timeout=120)
    assert "cxops-nothing" in str(exc.value)
