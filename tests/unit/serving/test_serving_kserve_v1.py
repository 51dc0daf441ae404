"""KServe V1 routes: /v1/models/{name} and :predict with feature rows or customer ids."""

from __future__ import annotations

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient

from cxops.serving.kserve_protocol import PredictorSlot, create_kserve_app


def test_model_ready_and_listed(client) -> None:
    assert client.get("/v1/models/churn").json() == {"name": "churn", "ready": True}
    assert client.get("/v1/models").json() == {"models": ["churn"]}


def test_unknown_model_is_404_naming_the_served_one(client) -> None:
    response = client.post("/v1/models/intent:predict", json={"instances": []})
    assert response.status_code == 404
    assert response.json() == {"error": "model 'intent' is not served here; this server serves 'churn'"}
    assert client.get("/v1/models/intent").status_code == 404


def test_predict_feature_rows(client, classifier, rows) -> None:
    response = client.post("/v1/models/churn:predict", json={"instances": rows})
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    np.testing.assert_allclose(
        [p["probability"] for p in predictions], classifier.predict_proba(pd.DataFrame(rows)), rtol=1e-6
    )
    assert set(predictions[0]) == {"probability", "label", "threshold", "model_name", "model_version"}


def test_predict_customers(client, features) -> None:
    ids = list(features["customerID"].iloc[[1, 2]])
    response = client.post("/v1/models/churn:predict", json={"instances": [{"customer_id": i} for i in ids]})
    assert response.status_code == 200
    assert [p["customer_id"] for p in response.json()["predictions"]] == ids


def test_unknown_customer_is_404(client) -> None:
    response = client.post("/v1/models/churn:predict", json={"instances": [{"customer_id": "0000-NOONE"}]})
    assert response.status_code == 404 and "'0000-NOONE'" in response.json()["error"]


def test_invalid_rows_are_422_with_details(client, rows) -> None:
    rows[0]["InternetService"] = "Satellite"
    del rows[4]["MonthlyCharges"]
    response = client.post("/v1/models/churn:predict", json={"instances": rows})
    assert response.status_code == 422
    body = response.json()
    assert "2 problem(s)" in body["error"] and "Satellite" in body["error"]
    assert [(d["row"], d["field"]) for d in body["details"]] == [
        (0, "InternetService"),
        (4, "MonthlyCharges"),
    ]


def test_malformed_bodies(client, rows) -> None:
    cases = [
        (b"", 400, "body is empty"),
        (b"{not json", 400, "not valid JSON"),
        (b'{"inputs": []}', 422, '{"instances": [...]}'),
        (b'{"instances": {"tenure": 3}}', 422, '{"instances": [...]}'),
        (b'{"instances": []}', 422, "holds no rows"),
    ]
    for body, status, message in cases:
        response = client.post(
            "/v1/models/churn:predict", content=body, headers={"content-type": "application/json"}
        )
        assert (response.status_code, message in response.json()["error"]) == (status, True), body
    mixed = {"instances": [rows[0], {"customer_id": "x"}]}
    response = client.post("/v1/models/churn:predict", json=mixed)
    assert response.status_code == 422 and "mixes them" in response.json()["error"]


def test_oversize_batch_is_413(client, rows) -> None:
    response = client.post("/v1/models/churn:predict", json={"instances": rows * 201})
    assert response.status_code == 413
    assert "batch of 1005 rows exceeds the limit of 1000" in response.json()["error"]


def test_routes_answer_503_until_the_model_is_loaded(predictor) -> None:
    slot = PredictorSlot()
    client = TestClient(create_kserve_app(slot))
    assert client.get("/v1/models/churn").status_code == 503
    assert client.get("/v2/health/ready").status_code == 503
    assert client.get("/v2/health/live").json() == {"live": True}
    slot.set(predictor)
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v1/models/churn").status_code == 200
