"""The routes of a served recommendation model: the plain JSON API application teams call, and the
KServe data plane (V1 model list, Open Inference Protocol V2) that KServe and its tooling speak.

    POST /v1/recommendations            {"customer_id": "7590-VHVEG", "k": 3, "channel": "app"}
    POST /v2/models/{name}/infer        inputs: customer_id BYTES [1], optional k INT* [1], channel BYTES [1]
                                        outputs: offer_id BYTES [n], score FP64 [n], personalised BOOL [1]
    GET  /v2, /v2/health/live, /v2/health/ready, /v2/models/{name}[/ready], /v1/models[/{name}]

Errors are `{"error": ...}` with a 4xx saying what to fix: unknown customer 404, no consent record 409,
k out of range, unknown channel or malformed body 422.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

import cxops
from cxops.errors import InvalidInputError
from cxops.recommendation.recommender import Recommendations, Recommender
from cxops.serving._tensors import INFERENCE_HEADER, parse_infer_request, tensor_values
from cxops.serving.kserve_protocol import PredictorSlot, install_error_handlers
from cxops.telemetry.serving import FASTAPI_TELEMETRY, ModelServerMiddleware

__all__ = ["RecommendationRequest", "create_recommendation_app"]

_INTEGER_DTYPES = {"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}


class RecommendationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(min_length=1, description="The customer's id as the CRM knows it")
    k: int | None = Field(None, description="How many offers (default and maximum: policies/offers.yaml)")
    channel: str | None = Field(None, description="Where the offers are shown (default: the first channel)")


class OfferOut(BaseModel):
    rank: int
    offer_id: str
    name: str
    kind: str
    monthly_price: float
    score: float = Field(description="Ranking score: orders this customer's offers; not a probability")
    reasons: list[str]


class RecommendationsOut(BaseModel):
    customer_id: str
    channel: str
    k: int
    personalised: bool = Field(description="False when the customer objected to profiling (popularity order)")
    offers: list[OfferOut]
    reasons: list[str]
    churn_probability: float | None
    policy_version: str
    model_name: str
    model_version: str
    eligible_offers: int


def create_recommendation_app(
    recommender: Recommender | PredictorSlot | None = None, *, server_name: str = "cxops-recommendation"
) -> FastAPI:
    slot = recommender if isinstance(recommender, PredictorSlot) else PredictorSlot(recommender)
    app = FastAPI(
        title=f"{server_name}: next-best offers",
        version=cxops.__version__,
        description=(
            "Ranked offers for a customer within policies/offers.yaml (eligibility, consent, objection to "
            "profiling, retention offers for customers at risk), plus the KServe V1/V2 routes."
        ),
        telemetry=FASTAPI_TELEMETRY,
    )
    app.state.predictor_slot = slot
    install_error_handlers(app)
    app.add_middleware(ModelServerMiddleware, slot=slot)

    async def _recommend(served: Recommender, customer_id: Any, k: Any, channel: Any) -> Recommendations:
        return await run_in_threadpool(served.recommend, customer_id, k, channel)

    @app.post("/v1/recommendations", response_model=RecommendationsOut)
    async def recommendations(body: RecommendationRequest) -> dict[str, Any]:
        served: Recommender = slot.require()
        return (await _recommend(served, body.customer_id, body.k, body.channel)).to_dict()

    @app.get("/v1/models")
    async def v1_models() -> dict[str, Any]:
        current = slot.get()
        return {"models": [current.name] if current else []}

    @app.get("/v1/models/{name}")
    async def v1_model(name: str) -> dict[str, Any]:
        return {"name": slot.require(name).name, "ready": True}

    @app.get("/v2")
    async def v2_server_metadata() -> dict[str, Any]:
        return {"name": server_name, "version": cxops.__version__, "extensions": []}

    @app.get("/v2/health/live")
    async def v2_live() -> dict[str, Any]:
        return {"live": True}

    @app.get("/v2/health/ready")
    async def v2_ready() -> JSONResponse:
        ready = slot.get() is not None
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    @app.get("/v2/models/{name}")
    async def v2_model(name: str) -> dict[str, Any]:
        served: Recommender = slot.require(name)
        return {
            "name": served.name,
            "versions": [served.model_version],
            "platform": "xgboost",
            "inputs": [
                {"name": "customer_id", "datatype": "BYTES", "shape": [1]},
                {"name": "k", "datatype": "INT64", "shape": [1], "optional": True},
                {"name": "channel", "datatype": "BYTES", "shape": [1], "optional": True},
            ],
            "outputs": [
                {"name": "offer_id", "datatype": "BYTES", "shape": [-1]},
                {"name": "score", "datatype": "FP64", "shape": [-1]},
                {"name": "personalised", "datatype": "BOOL", "shape": [1]},
            ],
            "parameters": {
                "policy_version": served.policy.version,
                "k_default": served.policy.k.default,
                "k_max": served.policy.k.max,
                "channels": served.policy.channels,
            },
        }

    @app.get("/v2/models/{name}/ready")
    async def v2_model_ready(name: str) -> dict[str, Any]:
        return {"name": slot.require(name).name, "ready": True}

    @app.post("/v2/models/{name}/infer")
    async def v2_infer(name: str, request: Request) -> dict[str, Any]:
        served: Recommender = slot.require(name)
        infer, raw = parse_infer_request(await request.body(), request.headers.get(INFERENCE_HEADER))
        values = _v2_inputs(infer, raw)
        answer = await _recommend(served, values.get("customer_id"), values.get("k"), values.get("channel"))
        return {
            "model_name": served.name,
            "model_version": served.model_version,
            "id": infer.id or str(uuid.uuid4()),
            "parameters": {"policy_version": answer.policy_version, "reasons": answer.reasons},
            "outputs": [
                {
                    "name": "offer_id",
                    "datatype": "BYTES",
                    "shape": [len(answer.offers)],
                    "data": [o.offer_id for o in answer.offers],
                },
                {
                    "name": "score",
                    "datatype": "FP64",
                    "shape": [len(answer.offers)],
                    "data": [o.score for o in answer.offers],
                },
                {"name": "personalised", "datatype": "BOOL", "shape": [1], "data": [answer.personalised]},
            ],
        }

    return app


def _v2_inputs(infer: Any, raw: dict[str, bytes]) -> dict[str, Any]:
    """customer_id (required), k and channel from V2 input tensors, one value each."""
    expected = {"customer_id": {"BYTES"}, "k": _INTEGER_DTYPES, "channel": {"BYTES"}}
    values: dict[str, Any] = {}
    for tensor in infer.inputs:
        if tensor.name not in expected:
            raise InvalidInputError(f"unknown input '{tensor.name}'; inputs are {', '.join(expected)}")
        if tensor.name in values:
            raise InvalidInputError(f"input '{tensor.name}' is given more than once")
        if tensor.datatype not in expected[tensor.name]:
            raise InvalidInputError(
                f"input '{tensor.name}' must have datatype {' or '.join(sorted(expected[tensor.name]))}; "
                f"got {tensor.datatype}"
            )
        if list(tensor.shape) not in ([1], [1, 1]):
            raise InvalidInputError(
                f"input '{tensor.name}' must have shape [1]: one customer per request; got {tensor.shape}"
            )
        values[tensor.name] = tensor_values(tensor, raw.get(tensor.name))[0]
    if "customer_id" not in values:
        raise InvalidInputError("input 'customer_id' (BYTES, shape [1]) is required")
    return values
