"""The churn lookup of the recommendation server, against a V2 endpoint on a real port."""

import asyncio

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from cxops.serving.recommendation_sources import RecommendationServingSettings, RemoteChurn
from cxops.serving.server import free_port
from cxops.serving.thread_server import ThreadServer


def _churn_server() -> FastAPI:
    app = FastAPI()

    @app.post("/v2/models/churn/infer")
    async def infer(request: Request) -> JSONResponse:
        customer = (await request.json())["inputs"][0]["data"][0]
        if customer == "0000-NOBODY":
            return JSONResponse({"error": "no features for customer(s)"}, status_code=404)
        if customer == "broken":
            return JSONResponse({"error": "boom"}, status_code=500)
        return JSONResponse(
            {
                "model_name": "churn",
                "model_version": "4",
                "outputs": [
                    {"name": "probability", "datatype": "FP64", "shape": [1], "data": [0.73]},
                    {"name": "label", "datatype": "BYTES", "shape": [1], "data": ["Yes"]},
                ],
            }
        )

    return app


def test_remote_churn_answers_the_probability_or_why_it_has_none() -> None:
    with ThreadServer(_churn_server()) as server:
        churn = RemoteChurn(server.url, timeout_s=5)
        assert asyncio.run(churn.probability("7590-VHVEG")) == (0.73, None)
        assert churn("7590-VHVEG") == (0.73, None)  # the synchronous call the recommender makes
        probability, why = asyncio.run(churn.probability("0000-NOBODY"))
        assert probability is None and "no features" in why
        probability, why = asyncio.run(churn.probability("broken"))
        assert probability is None and "HTTP 500" in why
    probability, why = asyncio.run(RemoteChurn(f"http://127.0.0.1:{free_port()}").probability("7590-VHVEG"))
    assert probability is None and "unreachable" in why


def test_settings_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("CXOPS_RECOMMENDATION_CHURN_URL", "http://churn:3000")
    monkeypatch.setenv("CXOPS_RECOMMENDATION_CHURN_TIMEOUT_S", "1.5")
    settings = RecommendationServingSettings()
    assert settings.churn_url == "http://churn:3000" and settings.churn_timeout_s == 1.5
