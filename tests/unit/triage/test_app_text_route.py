"""The triage app with `text_route="batched"`: intent and sentiment are asked on `/classify`, churn on V2.

Each model is a small stub server on a real port (the batched route names no model, so one per model).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from starlette.testclient import TestClient

from cxops.serving.thread_server import ThreadServer
from cxops.triage import TriageSettings
from cxops.triage.app import create_app


def model_stub(name: str, label: str, probability: float, calls: list[tuple[str, Any]]) -> FastAPI:
    app = FastAPI()

    @app.post("/classify")
    async def classify(request: Request) -> list[dict[str, Any]]:
        body = await request.json()
        calls.append(("/classify", body))
        prediction = {"probability": probability, "label": label, "model_name": name, "model_version": "5"}
        return [prediction for _ in body["texts"]]

    @app.post("/v2/models/{model}/infer")
    async def infer(model: str, request: Request) -> dict[str, Any]:
        body = await request.json()
        calls.append((f"/v2/models/{model}/infer", body))
        outputs = [
            {"name": "label", "datatype": "BYTES", "shape": [1], "data": ["Yes"]},
            {"name": "probability", "datatype": "FP64", "shape": [1], "data": [0.83]},
        ]
        return {"model_name": model, "model_version": "9", "outputs": outputs}

    return app


@pytest.fixture(scope="module")
def stubs() -> Iterator[dict[str, tuple[str, list]]]:
    calls: dict[str, list] = {"intent": [], "sentiment": [], "churn": []}
    with (
        ThreadServer(model_stub("intent", "cancellation", 0.91, calls["intent"])) as intent,
        ThreadServer(model_stub("sentiment", "negative", 0.97, calls["sentiment"])) as sentiment,
        ThreadServer(model_stub("churn", "", 0, calls["churn"])) as churn,
    ):
        urls = {"intent": intent.url, "sentiment": sentiment.url, "churn": churn.url}
        yield {name: (url, calls[name]) for name, url in urls.items()}


def test_batched_text_route_asks_classify_and_keeps_churn_on_v2(stubs):
    settings = TriageSettings(
        intent_url=stubs["intent"][0],
        sentiment_url=stubs["sentiment"][0],
        churn_url=stubs["churn"][0],
        text_route="batched",
    )
    with TestClient(create_app(settings)) as client:
        answer = client.post("/v1/triage", json={"message": "I quit, third outage", "customer_id": "c-1"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["intent"] == {"label": "cancellation", "confidence": 0.91, "model_version": "5"}
    assert body["sentiment"] == {"label": "negative", "confidence": 0.97, "model_version": "5"}
    assert body["churn"] == {"probability": 0.83, "model_version": "9"} and body["degraded"] == []
    assert stubs["intent"][1] == [("/classify", {"texts": ["I quit, third outage"]})]
    assert stubs["sentiment"][1] == [("/classify", {"texts": ["I quit, third outage"]})]
    ((path, churn_body),) = stubs["churn"][1]
    assert path == "/v2/models/churn/infer" and churn_body["inputs"][0]["data"] == ["c-1"]
