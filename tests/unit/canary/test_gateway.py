"""The canary gateway on real loopback servers: split, stickiness, opt-out, failover, shadow, telemetry."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from cxops.canary.events import EVENT_COMPARISON, EVENT_REQUEST, EVENT_RESPONSE, read_events, request_records
from cxops.canary.gateway import VERSION_HEADER, CanaryGateway, create_gateway
from cxops.canary.routing import Backend, Route, RoutingTable, Shadow, Side
from cxops.config import Settings
from cxops.privacy import pseudonymise
from cxops.serving.server import free_port
from cxops.serving.thread_server import ThreadServer

KEY = "k" * 32
ANSWERS = {"1": (0.20, "no"), "2": (0.35, "no"), "3": (0.80, "yes")}


@dataclass
class FakeModel:
    """A model server of one version: V2 and V1 routes answering that version's fixed answer."""

    version: str
    failing: bool = False
    delay_s: float = 0.0
    seen: list[dict[str, Any]] = field(default_factory=list)

    def reset(self) -> None:
        self.failing, self.delay_s = False, 0.0
        self.seen.clear()

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v2/models/{name}/infer")
        @app.post("/v2/models/{name}/versions/{version}/infer")
        async def infer(name: str, request: Request, version: str | None = None) -> JSONResponse:
            if version not in (None, self.version):
                return JSONResponse({"error": f"no version {version} here"}, status_code=404)
            body = await request.json()
            self.seen.append({"body": body, "headers": dict(request.headers)})
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            if self.failing:
                return JSONResponse({"error": "model crashed"}, status_code=500)
            rows = body["inputs"][0]["shape"][0]
            probability, label = ANSWERS[self.version]
            return JSONResponse(
                {
                    "model_name": name,
                    "model_version": self.version,
                    "id": body.get("id", "x"),
                    "outputs": [
                        {
                            "name": "probability",
                            "datatype": "FP64",
                            "shape": [rows],
                            "data": [probability] * rows,
                        },
                        {"name": "label", "datatype": "BYTES", "shape": [rows], "data": [label] * rows},
                    ],
                }
            )

        @app.post("/v1/models/{name}:predict")
        async def predict(name: str, request: Request) -> dict[str, Any]:
            body = await request.json()
            self.seen.append({"body": body, "headers": dict(request.headers)})
            probability, label = ANSWERS[self.version]
            return {
                "predictions": [
                    {**i, "probability": probability, "label": label, "model_version": self.version}
                    for i in body["instances"]
                ]
            }

        @app.get("/v2/health/ready")
        async def ready() -> dict[str, Any]:
            return {"ready": True, "version": self.version}

        return app


class Table:
    """A controller stand-in: holds the table and hears about candidate failures."""

    def __init__(self, route: Route) -> None:
        self.table = RoutingTable.single(route)
        self.failures: list[str] = []
        self.failed_models: list[str] = []

    def __call__(self) -> RoutingTable:
        return self.table

    def set(self, **changes: Any) -> None:
        self.table = RoutingTable.single(self.table.routes[0].model_copy(update=changes))

    def on_candidate_failure(self, model: str, reason: str) -> None:
        self.failures.append(reason)
        self.failed_models.append(model)


@dataclass
class Rig:
    gateway: CanaryGateway
    url: str
    table: Table
    stable: FakeModel
    candidate: FakeModel
    spans: InMemorySpanExporter
    logs: Path


def _v2(customer: str | None = None, *, tenure: int = 3, text: str | None = None) -> dict[str, Any]:
    if customer is not None:
        return {"inputs": [{"name": "customer_id", "datatype": "BYTES", "shape": [1], "data": [customer]}]}
    inputs = [{"name": "tenure", "datatype": "INT64", "shape": [1], "data": [tenure]}]
    if text is not None:
        inputs.append({"name": "text", "datatype": "BYTES", "shape": [1], "data": [text]})
    return {"inputs": inputs}


def _pid(customer: str) -> str:
    return pseudonymise(customer, KEY.encode())


@pytest.fixture(scope="module")
def models() -> Iterator[dict[str, tuple[FakeModel, str]]]:
    """The stable and candidate servers, shared by the tests of this module (each test resets them)."""
    stable, candidate = FakeModel("1"), FakeModel("2")
    with ThreadServer(stable.app()) as s1, ThreadServer(candidate.app()) as s2:
        yield {"stable": (stable, s1.url), "candidate": (candidate, s2.url)}


@pytest.fixture
def rig(models: dict[str, tuple[FakeModel, str]], tmp_path: Path) -> Iterator[Rig]:
    (stable, stable_url), (candidate, candidate_url) = models["stable"], models["candidate"]
    stable.reset()
    candidate.reset()
    table = Table(
        Route(
            model="churn",
            stable=Backend(version="1", url=stable_url),
            candidate=Backend(version="2", url=candidate_url),
            percent=20,
            canary_id="churn-2",
        )
    )
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    settings = Settings(home=tmp_path / "home", root=tmp_path, pseudonym_key=KEY)
    opted_out = {_pid(f"objector-{i}") for i in range(20)}
    app = create_gateway(
        table,
        settings,
        opt_out=lambda pseudonym: pseudonym in opted_out,
        tracer_provider=provider,
        rng=random.Random(2026),
    )
    with ThreadServer(app) as gw:
        yield Rig(app.state.gateway, gw.url, table, stable, candidate, spans, tmp_path / "home" / "logs")


def _post_many(url: str, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    """POST every body to the gateway's V2 route over one real HTTP connection."""
    with httpx.Client(base_url=url, timeout=10) as client:
        return [client.post("/v2/models/churn/infer", json=body) for body in bodies]


def _version(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    version = response.headers[VERSION_HEADER]
    assert response.json()["model_version"] == version  # the header names the version that answered
    return version


def _samples(url: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The values of one metric that the gateway exposes, by their sorted labels."""
    response = httpx.get(url + "/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == name
    }


def test_traffic_is_split_by_the_canary_percentage(rig: Rig) -> None:
    customers = [f"{i:04d}-SPLIT" for i in range(1000)]
    by_customer = _post_many(rig.url, [_v2(c) for c in customers])
    anonymous = _post_many(rig.url, [_v2(tenure=i) for i in range(1000)])
    for responses in (by_customer, anonymous):
        share = sum(_version(r) == "2" for r in responses) / len(responses)
        assert 0.16 < share < 0.24, share  # 20 % +- 4 standard deviations of 1000 draws
    # Each customer went where the route sends their pseudonym.
    route = rig.table().routes[0]
    expected = ["2" if route.choose(_pid(c)) is Side.CANDIDATE else "1" for c in customers]
    assert [r.headers[VERSION_HEADER] for r in by_customer] == expected
    assert len(rig.stable.seen) + len(rig.candidate.seen) == 2000
    status = httpx.get(rig.url + "/gateway/status").json()["models"]["churn"]
    assert status["requests"]["candidate"]["2"] == len(rig.candidate.seen)
    assert status["requests"]["stable"]["1"] == len(rig.stable.seen)
    assert status["candidate_healthy"] is True and status["route"]["percent"] == 20
    # Prometheus counts the same, per version and side.
    requests = _samples(rig.url, "cxops_gateway_requests_total")
    assert requests == {
        (("model", "churn"), ("side", "stable"), ("status", "200"), ("version", "1")): len(rig.stable.seen),
        (("model", "churn"), ("side", "candidate"), ("status", "200"), ("version", "2")): len(
            rig.candidate.seen
        ),
    }
    latencies = _samples(rig.url, "cxops_gateway_request_duration_seconds_count")
    assert latencies[(("model", "churn"), ("side", "candidate"), ("version", "2"))] == len(rig.candidate.seen)


def test_customers_are_sticky_and_a_higher_percentage_only_adds_customers_to_the_candidate(rig: Rig) -> None:
    customers = [f"{i:04d}-STICK" for i in range(100)]
    with httpx.Client(base_url=rig.url) as client:

        def sides() -> dict[str, str]:
            return {c: _version(client.post("/v2/models/churn/infer", json=_v2(c))) for c in customers}

        first = sides()
        assert sides() == first  # asked again: same version for everyone
        rig.table.set(percent=60)
        later = sides()
    moved = [c for c in customers if first[c] != later[c]]
    assert moved and all(first[c] == "1" and later[c] == "2" for c in moved)
    assert all(later[c] == "2" for c in customers if first[c] == "2")


def test_customers_who_objected_always_get_the_stable_version(rig: Rig) -> None:
    rig.table.set(percent=100)
    objectors = [f"objector-{i}" for i in range(20)]
    others = [f"{i:04d}-OTHER" for i in range(20)]
    responses = _post_many(rig.url, [_v2(c) for c in objectors + others])
    versions = [_version(r) for r in responses]
    assert versions[:20] == ["1"] * 20
    assert versions[20:] == ["2"] * 20


def test_a_dying_candidate_costs_no_client_request_and_is_reported(rig: Rig) -> None:
    doomed = FakeModel("2")
    server = ThreadServer(doomed.app()).__enter__()
    rig.table.set(percent=50, candidate=Backend(version="2", url=server.url))
    customers = [f"{i:04d}-KILL" for i in range(200)]
    results: list[httpx.Response] = []
    try:
        with httpx.Client(base_url=rig.url, timeout=10) as client:
            for number, customer in enumerate(customers):
                if number == 100:
                    server.__exit__(None, None, None)  # the candidate's process dies
                results.append(client.post("/v2/models/churn/infer", json=_v2(customer)))
    finally:
        server.__exit__(None, None, None)
    assert [r.status_code for r in results] == [200] * len(results)
    versions = [_version(r) for r in results]
    assert "2" in versions[:100]
    assert versions[100:] == ["1"] * 100
    assert rig.gateway.flush()
    assert len(rig.table.failures) == 1 and rig.table.failed_models == ["churn"]
    assert "candidate version '2' of model 'churn'" in rig.table.failures[0]
    assert "unreachable" in rig.table.failures[0]
    status = httpx.get(rig.url + "/gateway/status").json()["models"]["churn"]
    assert status["candidate_healthy"] is False and status["fallbacks"] == 1
    # The failed call is in the log under the candidate (canary analysis counts it), the retry under stable.
    responses = read_events(rig.logs / "churn", event_type=EVENT_RESPONSE)
    failed = [e for e in responses if e.get("cxopserror")]
    assert len(failed) == 1 and failed[0]["cxopsversion"] == "2" and failed[0]["endpoint"] == "canary"
    retry = [e for e in responses if e.get("cxopsfallback")]
    assert len(retry) == 1 and retry[0]["id"] == failed[0]["id"] + "-fallback"
    assert retry[0]["cxopsversion"] == "1" and retry[0]["cxopsstatus"] == 200
    records = request_records(responses)
    assert sum(r["status"] is None for r in records if r["version"] == "2") == 1


def test_a_candidate_answering_5xx_is_shunned_until_the_table_changes(rig: Rig) -> None:
    rig.table.set(percent=100)
    rig.candidate.failing = True
    with httpx.Client(base_url=rig.url) as client:
        first = client.post("/v2/models/churn/infer", json=_v2("0001-FAIL"))
        assert first.status_code == 200 and first.headers[VERSION_HEADER] == "1"
        for i in range(20):
            assert _version(client.post("/v2/models/churn/infer", json=_v2(f"{i:04d}-MORE"))) == "1"
        assert len(rig.candidate.seen) == 5  # then no more traffic to the failing candidate
        assert rig.gateway.flush()
        assert len(rig.table.failures) == 1
        assert "answered HTTP 500 to 5 requests in a row" in rig.table.failures[0]
        # The controller deploys a fix and moves the table on: the candidate gets traffic again.
        rig.candidate.failing = False
        rig.table.set(canary_id="churn-2-fixed")
        assert _version(client.post("/v2/models/churn/infer", json=_v2("0002-FAIL"))) == "2"
    assert httpx.get(rig.url + "/gateway/status").json()["models"]["churn"]["candidate_healthy"] is True


def test_occasional_5xx_are_retried_and_left_to_the_analysis(rig: Rig) -> None:
    rig.table.set(percent=100)
    with httpx.Client(base_url=rig.url) as client:
        for i in range(24):
            rig.candidate.failing = i % 4 == 3  # one request in four fails: never five in a row
            assert client.post("/v2/models/churn/infer", json=_v2(f"{i:04d}-FLAKY")).status_code == 200
    assert len(rig.candidate.seen) == 24  # still in the split
    assert rig.gateway.flush() and rig.table.failures == []
    records = request_records(read_events(rig.logs / "churn"))
    assert sum(r["status"] == 500 for r in records if r["version"] == "2") == 6  # for the error-rate check


def test_shadow_copies_never_change_or_delay_the_answer_and_are_compared(rig: Rig) -> None:
    shadow = FakeModel("3", delay_s=0.3)
    with ThreadServer(shadow.app()) as server:
        rig.table.set(percent=0, shadow=Shadow(version="3", url=server.url, percent=50))
        with httpx.Client(base_url=rig.url) as client:
            started = time.perf_counter()
            answers = [client.post("/v2/models/churn/infer", json=_v2(f"{i:04d}-SHADOW")) for i in range(40)]
            elapsed = time.perf_counter() - started
        assert elapsed < 40 * 0.3 / 2  # the shadow's 0.3 s per call is not waited for
        assert all(_version(a) == "1" and a.json()["outputs"][0]["data"] == [0.20] for a in answers)
        assert rig.gateway.flush()
    comparisons = read_events(rig.logs / "churn", event_type=EVENT_COMPARISON)
    assert 10 <= len(comparisons) <= 30 and len(comparisons) == len(shadow.seen)
    for event in comparisons:
        data = event["data"]
        assert data["outcome"] == "disagree" and data["labels_agree"] is False
        assert data["max_abs_diff"] == pytest.approx(0.60) and data["stable_version"] == "1"
        assert event["cxopsversion"] == "3" and event["endpoint"] == "shadow"
    request_ids = {e["id"] for e in read_events(rig.logs / "churn", event_type=EVENT_REQUEST)}
    assert {e["data"]["request_id"] for e in comparisons} <= request_ids
    shadow_stats = httpx.get(rig.url + "/gateway/status").json()["models"]["churn"]["shadow"]
    assert shadow_stats["sent"] == shadow_stats["disagree"] == len(comparisons)
    disagreements = _samples(rig.url, "cxops_gateway_shadow_comparisons_total")
    assert disagreements == {
        (("model", "churn"), ("outcome", "disagree"), ("version", "3")): len(comparisons)
    }
    # A shadow that is down changes nothing for the customer either.
    rig.table.set(shadow=Shadow(version="3", url=f"http://127.0.0.1:{free_port()}", percent=100))
    assert _version(httpx.post(rig.url + "/v2/models/churn/infer", json=_v2("0001-GONE"))) == "1"
    assert rig.gateway.flush()
    assert read_events(rig.logs / "churn", event_type=EVENT_COMPARISON)[-1]["data"]["outcome"] == "failed"


def test_logs_are_cloudevents_with_personal_data_masked(rig: Rig) -> None:
    rig.table.set(percent=100)
    customer, email = "7590-VHVEG", "jane.doe@example.com"
    with httpx.Client(base_url=rig.url) as client:
        by_id = client.post("/v2/models/churn/infer", json=_v2(customer), headers={"x-request-id": "req-42"})
        text = client.post(
            "/v2/models/churn/infer", json=_v2(text=f"write to {email} or call 06 12 34 56 78")
        )
        v1 = client.post("/v1/models/churn:predict", json={"instances": [{"customer_id": customer}]})
    assert by_id.headers["x-request-id"] == "req-42" and text.status_code == v1.status_code == 200
    assert v1.json()["predictions"][0]["customer_id"] == customer  # the client gets the raw answer
    assert rig.gateway.flush()
    raw = "".join(p.read_text() for p in (rig.logs / "churn").glob("*.jsonl"))
    assert customer not in raw and email not in raw and "06 12 34 56 78" not in raw
    events = read_events(rig.logs / "churn")
    assert len(events) == 6
    request, response = (e for e in events if e["id"] == "req-42")
    assert request["type"] == "org.kubeflow.serving.inference.request"
    assert response["type"] == "org.kubeflow.serving.inference.response"
    for event in (request, response):
        assert event["specversion"] == "1.0" and event["source"] == rig.url + "/"
        assert event["inferenceservicename"] == "churn" and event["component"] == "predictor"
        assert event["endpoint"] == "canary" and event["cxopsversion"] == "2"
        assert event["subject"] == _pid(customer) and event["cxopscanaryid"] == "churn-2"
        assert event["traceparent"].startswith("00-")
    assert request["data"]["inputs"][0]["data"] == [_pid(customer)]
    assert response["cxopsstatus"] == 200 and response["cxopslatencyms"] > 0
    assert response["data"]["outputs"][0]["data"] == [0.35]
    masked_text = next(e for e in events if e["type"] == EVENT_REQUEST and "subject" not in e)
    assert masked_text["data"]["inputs"][1]["data"] == ["write to <EMAIL> or call <PHONE>"]
    v1_response = next(e for e in events if e["type"] == EVENT_RESPONSE and "predictions" in e["data"])
    assert v1_response["data"]["predictions"][0]["customer_id"] == _pid(customer)
    day = events[0]["time"][:10]
    assert (rig.logs / "churn" / f"{day}.jsonl").exists()


def test_spans_are_recorded_per_request_and_per_upstream_call(rig: Rig) -> None:
    rig.table.set(percent=100)
    rig.candidate.failing = True
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    response = httpx.post(
        rig.url + "/v2/models/churn/infer", json=_v2("0001-SPAN"), headers={"traceparent": traceparent}
    )
    assert _version(response) == "1"
    spans = rig.spans.get_finished_spans()
    proxy = [s for s in spans if s.name == "canary.proxy"]
    upstream = [s for s in spans if s.name == "canary.upstream"]
    assert len(proxy) == 1 and len(upstream) == 2
    (span,) = proxy
    assert span.context.trace_id == 0x0AF7651916CD43DD8448EB211C80319C  # continues the caller's trace
    assert span.attributes["cxops.model"] == "churn" and span.attributes["cxops.canary.side"] == "stable"
    assert (
        span.attributes["cxops.canary.fallback"] is True
        and span.attributes["http.response.status_code"] == 200
    )
    assert [s.attributes["cxops.model.version"] for s in upstream] == ["2", "1"]
    assert all(s.parent.span_id == span.context.span_id for s in upstream)
    # The model servers receive the trace context of their upstream span.
    sent = rig.stable.seen[-1]["headers"]["traceparent"]
    assert sent.split("-")[1] == f"{span.context.trace_id:032x}"


def test_pinned_versions_and_other_routes_bypass_the_split_and_unknown_targets_get_404(rig: Rig) -> None:
    rig.table.set(percent=100)
    with httpx.Client(base_url=rig.url) as client:
        ready = client.get("/v2/health/ready")
        assert ready.json()["version"] == "1" and ready.headers[VERSION_HEADER] == "1"
        assert _version(client.post("/v2/models/churn/versions/1/infer", json=_v2("0001-PIN"))) == "1"
        rig.table.set(percent=0)
        assert _version(client.post("/v2/models/churn/versions/2/infer", json=_v2("0001-PIN"))) == "2"
        unknown_version = client.post("/v2/models/churn/versions/7/infer", json=_v2("0001-PIN"))
        assert unknown_version.status_code == 404 and "no version '7'" in unknown_version.json()["error"]
        unknown_model = client.post("/v2/models/intent/infer", json=_v2("0001-PIN"))
        assert unknown_model.status_code == 404 and "'intent' is not served" in unknown_model.json()["error"]


def test_an_unreachable_stable_version_is_a_502_that_says_what_to_check(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    table = Table(Route(model="churn", stable=Backend(version="1", url=dead)))
    settings = Settings(home=tmp_path / "home", root=tmp_path, pseudonym_key=KEY)
    with ThreadServer(create_gateway(table, settings, opt_out=lambda _: False)) as gw:
        response = httpx.post(gw.url + "/v2/models/churn/infer", json=_v2("0001-DEAD"))
    assert response.status_code == 502
    assert f"model 'churn' version '1' at {dead} is unreachable" in response.json()["error"]
