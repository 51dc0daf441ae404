"""A text model behind the KServe routes on a real port, called with the kserve client and plain HTTP;
then the same model as a real bento (`bentoml serve`), whose `/classify` route merges concurrent requests
with BentoML's adaptive batching, and the triage service reading its sentiment from that route.
"""

import asyncio
import json
import os
import struct
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from prometheus_client.parser import text_string_to_metric_families

from cxops.config import Settings
from cxops.data.messages import support_messages
from cxops.serving.kserve_protocol import create_kserve_app
from cxops.serving.packaging import build_bento, save_bento_model
from cxops.serving.predictor import ModelPredictor
from cxops.serving.server import start_server
from cxops.serving.thread_server import ThreadServer
from cxops.specs import load_spec
from cxops.training import train_text
from cxops.triage import TriageClient, TriageSettings
from cxops.triage.app import create_app

pytestmark = pytest.mark.integration

INFER = "/v2/models/sentiment/infer"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> SimpleNamespace:
    settings = Settings(home=tmp_path_factory.mktemp("home"))
    spec = load_spec("sentiment", settings)
    result = train_text(
        spec, support_messages(n=300, seed=5), settings, backend="local", progress=lambda _: None
    )
    return SimpleNamespace(spec=spec, settings=settings, result=result)


@pytest.fixture(scope="module")
def served(trained):
    predictor = ModelPredictor(trained.spec, trained.result.classifier, model_version="3")
    with ThreadServer(create_kserve_app(predictor, server_name="cxops-sentiment")) as server:
        yield server.url, trained.result.classifier


async def _infer(url: str, texts: list[str]):
    client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=30))
    try:
        request = InferRequest(
            model_name="sentiment",
            infer_inputs=[InferInput(name="text", shape=[len(texts)], datatype="BYTES", data=texts)],
        )
        return await client.infer(url, request, model_name="sentiment")
    finally:
        await client.close()


def test_kserve_client_gets_labels_and_confidences(served):
    url, classifier = served
    texts = ["This is the third outage this week, I am furious", "Thanks a lot, everything works now!"]
    response = asyncio.run(_infer(url, texts))
    outputs = {o.name: list(o.data) for o in response.outputs}
    assert response.model_name == "sentiment"
    proba = classifier.predict_texts(texts)
    assert outputs["label"] == list(classifier.labels(proba))
    assert outputs["probability"] == pytest.approx(proba.max(axis=1).tolist())
    assert all(1 / 3 < p <= 1 for p in outputs["probability"])


def test_metadata_describes_a_bytes_text_input_and_the_classes(served):
    url, _ = served
    meta = httpx.get(f"{url}/v2/models/sentiment").json()
    assert meta["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
    assert meta["platform"] == "pytorch"
    assert meta["parameters"]["classes"] == ["negative", "neutral", "positive"]


def test_v1_predict_returns_a_label_per_instance(served):
    url, _ = served
    answer = httpx.post(f"{url}/v1/models/sentiment:predict", json={"instances": [{"text": "ok thanks"}]})
    assert answer.status_code == 200, answer.text
    (prediction,) = answer.json()["predictions"]
    assert prediction["label"] in ("negative", "neutral", "positive")
    assert prediction["threshold"] is None and prediction["model_version"] == "3"


def _bytes_request(payload: bytes) -> tuple[bytes, dict[str, str]]:
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "text",
                    "shape": [1],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(payload) + 4},
                }
            ]
        }
    ).encode()
    body = header + struct.pack("<I", len(payload)) + payload
    return body, {
        "inference-header-content-length": str(len(header)),
        "content-type": "application/octet-stream",
    }


@pytest.mark.parametrize(
    ("text", "datatype", "status", "message"),
    [
        ("   ", "BYTES", 422, "empty or blank"),
        ("x" * 5001, "BYTES", 422, "over the limit of 5000"),
        (3.5, "FP64", 422, "must have datatype BYTES"),
    ],
)
def test_bad_messages_get_a_4xx_that_says_what_to_fix(served, text, datatype, status, message):
    url, _ = served
    body = {"inputs": [{"name": "text", "shape": [1], "datatype": datatype, "data": [text]}]}
    answer = httpx.post(f"{url}{INFER}", json=body)
    assert answer.status_code == status
    assert message in answer.json()["error"]
    assert "xxxxxxxxxx" not in answer.text  # a message is never echoed back


def test_non_utf8_binary_text_is_refused(served):
    url, _ = served
    body, headers = _bytes_request("café".encode("latin-1"))
    answer = httpx.post(f"{url}{INFER}", content=body, headers=headers)
    assert answer.status_code == 422 and "not UTF-8" in answer.json()["error"]
    good, headers = _bytes_request("très bien, merci".encode())
    assert httpx.post(f"{url}{INFER}", content=good, headers=headers).status_code == 200


def test_a_text_model_does_not_look_customers_up(served):
    url, _ = served
    body = {"inputs": [{"name": "customer_id", "shape": [1], "datatype": "BYTES", "data": ["7590-VHVEG"]}]}
    answer = httpx.post(f"{url}{INFER}", json=body)
    assert answer.status_code == 422 and "scores messages, not customers" in answer.json()["error"]


# -- the bento: /classify with adaptive batching --------------------------------------------------------

BATCH_SIZE_METRIC = "bentoml_service_adaptive_batch_size"
"""BentoML's histogram of how many requests each call of a batchable API merged."""


@pytest.fixture(scope="module")
def bento(trained):
    """`bentoml serve` of a sentiment bento (version 1) holding the trained model."""
    previous_home = os.environ.get("BENTOML_HOME")  # packaging points this process's BentoML at the test home
    spec, settings, result = trained.spec, trained.settings, trained.result
    model_dir = result.save(settings.artifacts_dir / "sentiment" / "1" / "model")
    bento_tag = build_bento(spec, save_bento_model(spec, model_dir, 1, settings), settings)
    with start_server(bento_tag, port=0, settings=settings, timeout=300) as server:
        yield server.url
    if previous_home is None:
        os.environ.pop("BENTOML_HOME", None)
    else:
        os.environ["BENTOML_HOME"] = previous_home


def _messages(n: int) -> list[str]:
    return list(dict.fromkeys(support_messages(n=3 * n, seed=11)["text"]))[:n]


def _v2_answers(url: str, texts: list[str]) -> list[tuple[str, float]]:
    body = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [len(texts)], "data": texts}]}
    response = httpx.post(f"{url}{INFER}", json=body, timeout=120)
    assert response.status_code == 200, response.text
    outputs = {o["name"]: o["data"] for o in response.json()["outputs"]}
    return list(zip(outputs["label"], outputs["probability"], strict=True))


async def _classify_concurrently(url: str, bodies: list[Any]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        return await asyncio.gather(*(client.post("/classify", json=body) for body in bodies))


def _batch_calls(url: str) -> tuple[float, float]:
    """(calls of `classify`, calls that held a single request) from BentoML's batch-size histogram."""
    calls = singles = 0.0
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text):
        for sample in family.samples:
            if sample.labels.get("method_name") != "classify":
                continue
            if sample.name == f"{BATCH_SIZE_METRIC}_count":
                calls += sample.value
            elif sample.name == f"{BATCH_SIZE_METRIC}_bucket" and float(sample.labels["le"]) == 1.0:
                singles += sample.value
    return calls, singles


def test_concurrent_requests_are_merged_and_answered_as_v2_answers(bento):
    texts = _messages(32)
    expected = _v2_answers(bento, texts)
    blank = {"texts": ["   "]}
    responses = asyncio.run(_classify_concurrently(bento, [{"texts": [t]} for t in texts] + [blank]))

    *answers, refused = responses
    for text, response, (label, probability) in zip(texts, answers, expected, strict=True):
        assert response.status_code == 200, response.text
        (prediction,) = response.json()
        assert prediction["label"] == label, text
        assert prediction["probability"] == pytest.approx(probability, abs=1e-4)
        assert (prediction["model_name"], prediction["model_version"]) == ("sentiment", "1")
    # The blank message was refused on its own; the requests it may have been batched with were not.
    assert refused.status_code == 422
    assert "is empty or blank" in refused.text

    calls, singles = _batch_calls(bento)
    assert calls > singles, f"no call of classify merged requests ({calls:g} calls, all single)"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"texts": []}, 422, "holds no messages"),
        ({"texts": ["x" * 5001]}, 422, "over the limit of 5000"),
        ({"texts": ["ok"] * 257}, 413, "exceeds the limit of 256"),
        ({"texts": [3]}, 400, "valid string"),
        ({"messages": ["ok"]}, 400, "texts"),
    ],
)
def test_bad_classify_requests_get_a_4xx_that_says_what_to_fix(bento, body, status, message):
    response = httpx.post(f"{bento}/classify", json=body, timeout=60)
    assert response.status_code == status
    assert message in response.text
    assert "xxxxxxxxxx" not in response.text  # a message is never echoed back


def test_triage_reads_sentiment_from_the_batched_route(bento, trained):
    intent = FastAPI()

    @intent.post("/classify")
    async def classify(body: dict[str, list[str]]) -> list[dict[str, Any]]:
        return [{"label": "network_outage", "probability": 0.9, "model_name": "intent", "model_version": "4"}]

    message = "The internet has been down all day, this is unacceptable"
    ((label, probability),) = _v2_answers(bento, [message])
    with ThreadServer(intent) as intent_server:
        settings = TriageSettings(intent_url=intent_server.url, sentiment_url=bento, text_route="batched")
        with (
            ThreadServer(create_app(settings, cxops_settings=trained.settings)) as triage,
            TriageClient(triage.url) as client,
        ):
            result = client.triage(message)
    assert result.degraded == []
    assert result.sentiment is not None and result.sentiment.label == label
    assert result.sentiment.confidence == pytest.approx(probability, abs=1e-4)
    assert result.sentiment.model_version == "1"
