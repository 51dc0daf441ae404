"""Calls to the model servers (V2, and the text models' batched route): the request sent, answers parsed,
and every failure made a short cause."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from cxops.specs import load_spec
from cxops.triage import ModelUnavailableError, UnknownCustomerError
from cxops.triage.models_client import ModelAnswer, ModelEndpoint, check_ready, infer

INTENT = ModelEndpoint.for_text(load_spec("intent"), "http://intent.test/", "intent-v2")
INTENT_BATCHED = ModelEndpoint.for_text(load_spec("intent"), "http://intent.test/", "intent-v2", "batched")
CHURN = ModelEndpoint.for_customers("churn", "http://churn.test", "churn")


def v2(label: object = "cancellation", probability: object = 0.8, **extra) -> dict:
    return {
        "model_name": "intent",
        "model_version": "7",
        "outputs": [
            {"name": "label", "datatype": "BYTES", "shape": [1], "data": [label]},
            {"name": "probability", "datatype": "FP64", "shape": [1], "data": [probability]},
        ],
        **extra,
    }


def call(endpoint: ModelEndpoint, handler, value: str = "please cancel my plan") -> ModelAnswer:
    async def run() -> ModelAnswer:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await infer(client, endpoint, value, request_id="req-1", timeout=1.5)

    return asyncio.run(run())


def test_endpoint_comes_from_the_spec():
    assert INTENT.infer_url == "http://intent.test/v2/models/intent-v2/infer"
    assert INTENT.ready_url == "http://intent.test/v2/health/ready"
    assert (INTENT.input_name, INTENT.label_output, INTENT.score_output) == ("text", "label", "probability")
    assert "cancellation" in INTENT.labels


def test_sends_one_bytes_tensor_and_parses_the_answer():
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["url"] = str(request.url)
        seen["body"] = json.loads(request.content)
        seen["request_id"] = request.headers["X-Request-ID"]
        return httpx.Response(200, json=v2())

    answer = call(INTENT, handler)
    assert answer == ModelAnswer(label="cancellation", probability=0.8, model_version="7")
    assert seen["url"] == "http://intent.test/v2/models/intent-v2/infer"
    assert seen["body"] == {
        "id": "req-1",
        "inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["please cancel my plan"]}],
    }
    assert seen["request_id"] == "req-1"


def test_churn_sends_the_customer_id_and_its_404_is_an_unknown_customer():
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert body["inputs"][0]["name"] == "customer_id"
        if body["inputs"][0]["data"] == ["known"]:
            return httpx.Response(200, json=v2("Yes", 0.72))
        return httpx.Response(404, json={"error": "customer 'x' has no features"})

    assert call(CHURN, handler, "known").probability == 0.72
    with pytest.raises(UnknownCustomerError):
        call(CHURN, handler, "stranger")


def _raise(exc: Exception):
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


def _answer(status: int, body: object = None, content: bytes | None = None):
    def handler(request: httpx.Request) -> httpx.Response:
        if content is not None:
            return httpx.Response(status, content=content)
        return httpx.Response(status, json=body)

    return handler


FAILURES = [
    ("timeout", _raise(httpx.ReadTimeout("slow")), "timed out after 1.5 s"),
    ("refused", _raise(httpx.ConnectError("refused")), "unreachable"),
    ("server error", _answer(500, {"error": "boom"}), "answered HTTP 500"),
    ("wrong model name: 404 of a text model", _answer(404, {"error": "no model"}), "answered HTTP 404"),
    ("bad request", _answer(422, {"error": "text too long"}), "answered HTTP 422"),
    ("not JSON", _answer(200, content=b"<html>"), "malformed response: not JSON"),
    ("not an object", _answer(200, [1, 2]), "malformed response: not a V2 inference response"),
    ("no label output", _answer(200, {"outputs": [v2()["outputs"][1]]}), "no output 'label'"),
    ("two values", _answer(200, {"outputs": [{"name": "label", "data": ["a", "b"]}]}), "is not one value"),
    ("label not text", _answer(200, v2(label=3)), "'label' is not text"),
    ("probability above 1", _answer(200, v2(probability=1.5)), "'probability' is not a probability"),
    ("probability as text", _answer(200, v2(probability="0.9")), "'probability' is not a probability"),
    ("probability as bool", _answer(200, v2(probability=True)), "'probability' is not a probability"),
    ("label of another model", _answer(200, v2(label="card_arrival")), "label 'card_arrival'"),
]


@pytest.mark.parametrize(("handler", "cause"), [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES])
def test_failures_become_short_causes(handler, cause):
    with pytest.raises(ModelUnavailableError) as info:
        call(INTENT, handler)
    assert info.value.model == "intent"
    assert cause in info.value.cause
    assert "http://" not in info.value.cause  # causes reach API callers: no infrastructure details


def test_model_version_may_be_absent():
    body = v2()
    del body["model_version"]
    assert call(INTENT, _answer(200, body)).model_version == ""


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        (_answer(200, {"ready": True}), "ready"),
        (_answer(503, {"ready": False}), "not ready (HTTP 503)"),
        (_raise(httpx.ConnectError("refused")), "unreachable"),
        (_raise(httpx.ConnectTimeout("slow")), "timed out after 0.5 s"),
    ],
)
def test_check_ready(handler, expected):
    async def run() -> str:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await check_ready(client, INTENT, timeout=0.5)

    assert asyncio.run(run()) == expected


# -- the text models' batched route ----------------------------------------------------------------------


def batched(label: object = "cancellation", probability: object = 0.8, **changes) -> list:
    """A `/classify` answer as the CXOps model server gives it (a list of `PredictionOut`)."""
    prediction = {
        "probability": probability,
        "label": label,
        "threshold": None,
        "model_name": "intent",
        "model_version": "7",
        "customer_id": None,
        **changes,
    }
    return [prediction]


def test_batched_endpoint_asks_the_classify_route():
    assert INTENT_BATCHED.infer_url == "http://intent.test/classify"
    assert INTENT_BATCHED.ready_url == "http://intent.test/v2/health/ready"  # readiness stays V2
    assert INTENT.route == "v2" and CHURN.infer_url == "http://churn.test/v2/models/churn/infer"


def test_batched_route_sends_the_message_in_a_list_and_parses_the_one_prediction():
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["url"] = str(request.url)
        seen["body"] = json.loads(request.content)
        seen["request_id"] = request.headers["X-Request-ID"]
        return httpx.Response(200, json=batched())

    answer = call(INTENT_BATCHED, handler)
    assert answer == ModelAnswer(label="cancellation", probability=0.8, model_version="7")
    assert seen == {
        "url": "http://intent.test/classify",
        "body": {"texts": ["please cancel my plan"]},
        "request_id": "req-1",
    }


def _without(key: str) -> list:
    body = batched()
    del body[0][key]
    return body


BATCHED_FAILURES = [
    ("timeout", _raise(httpx.ReadTimeout("slow")), "timed out after 1.5 s"),
    ("refused", _raise(httpx.ConnectError("refused")), "unreachable"),
    ("route absent (an older server)", _answer(404, {"error": "not found"}), "answered HTTP 404"),
    ("blank message", _answer(422, [{"error": "is empty or blank"}]), "answered HTTP 422"),
    ("batch queue over its latency budget", _answer(503, {"error": "overloaded"}), "answered HTTP 503"),
    ("not JSON", _answer(200, content=b"<html>"), "malformed response: not JSON"),
    ("a V2 answer", _answer(200, v2()), "malformed response: not one prediction"),
    ("two predictions", _answer(200, batched() * 2), "malformed response: not one prediction"),
    ("no prediction", _answer(200, []), "malformed response: not one prediction"),
    ("not an object", _answer(200, ["cancellation"]), "malformed response: not one prediction"),
    ("no label", _answer(200, _without("label")), "malformed response: no 'label'"),
    ("no probability", _answer(200, _without("probability")), "malformed response: no 'probability'"),
    ("label not text", _answer(200, batched(label=3)), "'label' is not text"),
    ("probability above 1", _answer(200, batched(probability=1.5)), "'probability' is not a probability"),
    ("probability null", _answer(200, batched(probability=None)), "'probability' is not a probability"),
    ("another model's server", _answer(200, batched(model_name="sentiment")), "for model 'sentiment'"),
    ("label of another model", _answer(200, batched(label="card_arrival")), "label 'card_arrival'"),
]


@pytest.mark.parametrize(
    ("handler", "cause"), [f[1:] for f in BATCHED_FAILURES], ids=[f[0] for f in BATCHED_FAILURES]
)
def test_batched_route_failures_become_short_causes(handler, cause):
    with pytest.raises(ModelUnavailableError) as info:
        call(INTENT_BATCHED, handler)
    assert info.value.model == "intent"
    assert cause in info.value.cause
    assert "http://" not in info.value.cause
