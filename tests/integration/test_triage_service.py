"""The triage service over real HTTP: uvicorn servers on free ports, called with httpx, TriageClient and
the `cxops triage send` command.

The intent, sentiment and churn endpoints are one small V2 peer written here, whose answers each test
sets (the real model servers are tested in test_serving.py). A second triage service points its
sentiment URL at a port where nothing listens, a third has a short timeout and a slow sentiment model.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from typer.testing import CliRunner

from cxops.cli.triage import app as triage_cli
from cxops.serving.server import free_port
from cxops.serving.thread_server import ThreadServer
from cxops.triage import (
    TriageClient,
    TriageResult,
    TriageServiceError,
    TriageSettings,
    TriageUnavailableError,
)
from cxops.triage.app import create_app

pytestmark = pytest.mark.integration

SECRET = "Je veux résilier, jean.dupont@example.com, la fibre est encore coupée"
"""A message the logs must never show, PII or not."""


# -- a V2 model-server peer whose answers the tests set ------------------------------------------------


@dataclass
class ModelBehaviour:
    label: str
    probability: float = 0.9
    version: str = "1"
    status: int = 200
    delay_s: float = 0.0
    customers: dict[str, float] = field(default_factory=dict)
    """Churn only: known customers and their churn probability; others get 404."""


@dataclass
class Peer:
    models: dict[str, ModelBehaviour] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any], str | None]] = field(default_factory=list)
    ready: bool = True

    def reset(self) -> None:
        self.models = {
            "intent": ModelBehaviour("billing_question", 0.93, version="4"),
            "sentiment": ModelBehaviour("neutral", 0.88, version="2"),
            "sentiment-slow": ModelBehaviour("neutral", 0.88, delay_s=2.0),
            "churn": ModelBehaviour("", version="9", customers={"7590-VHVEG": 0.81, "5575-GNVDE": 0.12}),
        }
        self.calls.clear()
        self.ready = True

    def called(self, name: str) -> list[dict[str, Any]]:
        return [body for model, body, _ in self.calls if model == name]


def peer_app(peer: Peer) -> FastAPI:
    app = FastAPI()

    @app.get("/v2/health/ready")
    async def ready() -> JSONResponse:
        return JSONResponse({"ready": peer.ready}, status_code=200 if peer.ready else 503)

    @app.post("/v2/models/{name}/infer")
    async def infer(name: str, request: Request) -> JSONResponse:
        body = await request.json()
        peer.calls.append((name, body, request.headers.get("x-request-id")))
        model = peer.models[name]
        if model.delay_s:
            await asyncio.sleep(model.delay_s)
        if model.status != 200:
            return JSONResponse({"error": f"model {name} failed"}, status_code=model.status)
        (tensor,) = body["inputs"]
        label, probability = model.label, model.probability
        if tensor["name"] == "customer_id":
            customer = tensor["data"][0]
            if customer not in model.customers:
                return JSONResponse({"error": f"customer {customer!r} has no features"}, status_code=404)
            probability = model.customers[customer]
            label = "Yes" if probability >= 0.5 else "No"
        outputs = [
            {"name": "label", "datatype": "BYTES", "shape": [1], "data": [label]},
            {"name": "probability", "datatype": "FP64", "shape": [1], "data": [probability]},
        ]
        return JSONResponse(
            {"model_name": name, "model_version": model.version, "id": body.get("id"), "outputs": outputs}
        )

    return app


@dataclass
class Services:
    peer: Peer
    triage: str
    degraded: str
    slow: str
    dead_url: str


@pytest.fixture(scope="module")
def services() -> Iterator[Services]:
    peer = Peer()
    peer.reset()
    with ThreadServer(peer_app(peer)) as models:
        dead_url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        main = TriageSettings(
            intent_url=models.url, sentiment_url=models.url, churn_url=models.url, timeout_s=10
        )
        degraded = TriageSettings(
            intent_url=models.url, sentiment_url=dead_url, churn_url=models.url, timeout_s=10
        )
        slow = TriageSettings(
            intent_url=models.url, sentiment_url=models.url, sentiment_model="sentiment-slow", timeout_s=0.3
        )
        with (
            ThreadServer(create_app(main)) as triage,
            ThreadServer(create_app(degraded)) as triage_degraded,
            ThreadServer(create_app(slow)) as triage_slow,
        ):
            yield Services(peer, triage.url, triage_degraded.url, triage_slow.url, dead_url)


@pytest.fixture
def peer(services: Services) -> Peer:
    services.peer.reset()
    return services.peer


@pytest.fixture
def client(services: Services) -> Iterator[TriageClient]:
    with TriageClient(services.triage) as triage_client:
        yield triage_client


def post(url: str, body: Any = None, *, content: bytes | None = None) -> httpx.Response:
    if content is None:
        content = json.dumps(body).encode()
    return httpx.post(
        f"{url}/v1/triage", content=content, headers={"Content-Type": "application/json"}, timeout=10
    )


# -- decisions ------------------------------------------------------------------------------------------


def test_angry_cancellation_of_a_likely_churner(services, peer):
    peer.models["intent"] = ModelBehaviour("cancellation", 0.91, version="4")
    peer.models["sentiment"] = ModelBehaviour("negative", 0.97, version="2")
    response = post(services.triage, {"message": SECRET, "customer_id": "7590-VHVEG", "channel": "email"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["intent"] == {"label": "cancellation", "confidence": 0.91, "model_version": "4"}
    assert body["sentiment"] == {"label": "negative", "confidence": 0.97, "model_version": "2"}
    assert body["churn"] == {"probability": 0.81, "model_version": "9"}
    assert (body["queue"], body["priority"], body["escalate_to_human"]) == ("retention", "urgent", True)
    assert body["matched_rules"] == ["angry_cancellation", "likely_churner"]
    assert body["degraded"] == [] and body["policy_version"] == "2026.1"
    assert response.headers["X-Request-ID"] == body["request_id"]

    # Each model got one V2 BYTES tensor, tagged with the request id.
    text_tensor = {"name": "text", "datatype": "BYTES", "shape": [1], "data": [SECRET]}
    assert peer.called("intent")[0]["inputs"] == [text_tensor]
    assert peer.called("sentiment")[0]["inputs"] == [text_tensor]
    assert peer.called("churn")[0]["inputs"] == [
        {"name": "customer_id", "datatype": "BYTES", "shape": [1], "data": ["7590-VHVEG"]}
    ]
    assert {request_id for _, _, request_id in peer.calls} == {body["request_id"]}


def test_client_returns_a_typed_result(client, peer):
    peer.models["intent"] = ModelBehaviour("network_outage", 0.8)
    peer.models["sentiment"] = ModelBehaviour("negative", 0.7)
    result = client.triage("No signal since 8am!!", channel="chat", request_id="ticket-42")
    assert isinstance(result, TriageResult)
    assert (result.queue, result.priority, result.escalate_to_human) == ("technical_urgent", "urgent", True)
    assert result.request_id == "ticket-42"
    assert result.churn is None and not peer.called("churn")  # no customer: churn is not asked


def test_low_intent_confidence_goes_to_human_review(client, peer):
    peer.models["intent"] = ModelBehaviour("roaming", 0.31)
    result = client.triage("hmm so about the thing", customer_id="5575-GNVDE")
    assert (result.queue, result.escalate_to_human, result.priority) == ("human_review", True, "normal")
    assert result.churn is not None and result.churn.probability == 0.12


def test_unknown_customer_leaves_churn_out(client, peer):
    result = client.triage("What is on my bill?", customer_id="0000-NOBODY")
    assert result.churn is None and result.degraded == []
    assert (result.queue, result.priority, result.escalate_to_human) == ("billing", "normal", False)
    assert "the customer is unknown to the churn model; churn risk was not considered" in result.reasons


def test_message_at_the_limit_is_accepted(client):
    assert client.triage("x" * 5000).queue == "billing"


# -- degraded mode ---------------------------------------------------------------------------------------


def test_sentiment_server_down_routes_to_human_review(services, peer):
    with TriageClient(services.degraded) as degraded:
        result = degraded.triage("My fibre is down", customer_id="7590-VHVEG")
    assert result.degraded == ["sentiment"] and result.sentiment is None
    assert result.intent is not None and result.intent.label == "billing_question"
    assert (result.queue, result.escalate_to_human) == ("human_review", True)
    assert result.priority == "high"  # the churn rule still applies
    assert result.reasons[0] == (
        "the sentiment model could not be reached (unreachable); a person reviews the message"
    )


def test_intent_server_error_routes_to_human_review(client, peer):
    peer.models["intent"].status = 500
    result = client.triage("Where is my order?")
    assert result.degraded == ["intent"] and result.intent is None
    assert result.queue == "human_review" and result.escalate_to_human
    assert "answered HTTP 500" in result.reasons[0]


def test_slow_sentiment_model_times_out(services, peer):
    with TriageClient(services.slow) as slow:
        result = slow.triage("My fibre is down")
    assert result.degraded == ["sentiment"] and result.queue == "human_review"
    assert "timed out after 0.3 s" in result.reasons[0]


def test_churn_server_error_is_degraded_but_not_escalated(client, peer):
    peer.models["churn"].status = 503
    result = client.triage("What is on my bill?", customer_id="7590-VHVEG")
    assert result.degraded == ["churn"] and result.churn is None
    assert (result.queue, result.escalate_to_human) == ("billing", False)
    assert "the churn model could not be reached (answered HTTP 503)" in result.reasons[-1]


def test_model_answering_a_label_outside_its_spec_is_degraded(client, peer):
    peer.models["intent"] = ModelBehaviour("card_arrival", 0.99)
    result = client.triage("Where is my card?")
    assert result.degraded == ["intent"] and result.queue == "human_review"
    assert "label 'card_arrival'" in result.reasons[0]


# -- bad requests ----------------------------------------------------------------------------------------

BAD = [
    ("empty message", {"message": ""}, None, 422, "message: the message is empty or blank"),
    ("blank message", {"message": " \n\t "}, None, 422, "message: the message is empty or blank"),
    ("no message", {"customer_id": "7590-VHVEG"}, None, 422, "message: Field required"),
    ("message not text", {"message": 42}, None, 422, "message: Input should be a valid string"),
    ("customer id not text", {"message": "hi", "customer_id": 7590}, None, 422, "customer_id:"),
    ("unknown channel", {"message": "hi", "channel": "fax"}, None, 422, "channel: Input should be 'chat'"),
    ("misspelt field", {"message": "hi", "customerId": "x"}, None, 422, "customerId: Extra inputs"),
    (
        "message too long",
        {"message": "x" * 5001},
        None,
        413,
        "the message is 5001 characters; the limit is 5000",
    ),
    ("body far too long", None, b'{"message": "' + b"x" * 100_000 + b'"}', 413, "the limit is"),
    ("not UTF-8", None, b'{"message": "caf\xe9 froid"}', 400, "not valid UTF-8"),
    ("not JSON", None, b"message=hello", 400, "not valid JSON"),
    ("empty body", None, b"", 400, "the request body is empty"),
    ("JSON but not an object", ["hello"], None, 422, "must be a JSON object"),
]


@pytest.mark.parametrize(
    ("body", "content", "status", "expected"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_requests_get_a_clear_json_error(services, peer, body, content, status, expected):
    response = post(services.triage, body, content=content)
    assert response.status_code == status
    assert list(response.json()) == ["error"] and expected in response.json()["error"]
    assert not peer.calls  # refused before any model is called


def test_client_raises_with_the_servers_status_and_message(client):
    with pytest.raises(TriageServiceError) as info:
        client.triage("hi", channel="fax")  # type: ignore[arg-type]
    assert info.value.status_code == 422 and info.value.error.startswith("invalid triage request: channel:")
    with pytest.raises(TriageServiceError) as info:
        client.triage("x" * 6000)
    assert info.value.status_code == 413


def test_client_says_when_the_service_is_unreachable(services):
    with (
        TriageClient(services.dead_url) as nowhere,
        pytest.raises(TriageUnavailableError, match="could not be reached"),
    ):
        nowhere.triage("hello")


# -- health, readiness, docs, logs, CLI ------------------------------------------------------------------


def test_health_and_readiness(services, peer):
    assert httpx.get(f"{services.triage}/healthz").json() == {"status": "ok", "policy_version": "2026.1"}
    ready = httpx.get(f"{services.triage}/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "ready": True,
        "models": {"intent": "ready", "sentiment": "ready", "churn": "ready"},
    }

    with TriageClient(services.degraded) as degraded:
        report = degraded.ready()
    assert report["ready"] is False and report["models"]["sentiment"] == "unreachable"

    peer.ready = False
    not_ready = httpx.get(f"{services.triage}/readyz")
    assert not_ready.status_code == 503 and not_ready.json()["models"]["intent"] == "not ready (HTTP 503)"


def test_openapi_documents_the_request_and_the_errors(services):
    spec = httpx.get(f"{services.triage}/openapi.json").json()
    operation = spec["paths"]["/v1/triage"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["message"] and schema["additionalProperties"] is False
    assert {"200", "400", "413", "422"} <= set(operation["responses"])
    assert httpx.get(f"{services.triage}/docs").status_code == 200


def test_the_message_is_never_logged(services, peer, caplog):
    caplog.set_level(logging.DEBUG)
    peer.models["sentiment"].status = 500  # the failure path logs too
    response = post(services.triage, {"message": SECRET, "customer_id": "7590-VHVEG"})
    post(services.triage, {"message": SECRET, "channel": "fax"})
    assert response.status_code == 200
    request_id = response.json()["request_id"]
    lines = [record.getMessage() for record in caplog.records]
    assert any(request_id in line and f"chars={len(SECRET)}" in line for line in lines)
    for fragment in ("résilier", "jean.dupont", "fibre", "7590-VHVEG"):
        assert not any(fragment in line for line in lines), fragment


def test_cli_send_prints_the_decision(services, peer):
    peer.models["intent"] = ModelBehaviour("cancellation", 0.9)
    peer.models["sentiment"] = ModelBehaviour("negative", 0.9)
    runner = CliRunner()
    result = runner.invoke(triage_cli, ["send", "I quit", "--channel", "chat", "--url", services.triage])
    assert result.exit_code == 0, result.output
    assert "queue     retention   priority high   escalate yes" in result.output
    assert "a frustrated customer wants to cancel" in result.output

    as_json = runner.invoke(triage_cli, ["send", "I quit", "--url", services.triage, "--json"])
    assert json.loads(as_json.output)["queue"] == "retention"

    bad = runner.invoke(triage_cli, ["send", "I quit", "--channel", "fax", "--url", services.triage])
    assert isinstance(bad.exception, TriageServiceError) and bad.exception.status_code == 422
