"""A text model behind the KServe routes on a real port, called with the kserve client and plain HTTP."""

import asyncio
import json
import struct

import httpx
import pytest
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

from cxops.config import Settings
from cxops.data.messages import support_messages
from cxops.serving.kserve_protocol import create_kserve_app
from cxops.serving.predictor import ModelPredictor
from cxops.serving.thread_server import ThreadServer
from cxops.specs import load_spec
from cxops.training import train_text

pytestmark = pytest.mark.integration

INFER = "/v2/models/sentiment/infer"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    spec = load_spec("sentiment")
    settings = Settings(home=tmp_path_factory.mktemp("home"))
    result = train_text(
        spec, support_messages(n=300, seed=5), settings, backend="local", progress=lambda _: None
    )
    predictor = ModelPredictor(spec, result.classifier, model_version="3")
    with ThreadServer(create_kserve_app(predictor, server_name="cxops-sentiment")) as server:
        yield server.url, result.classifier


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
