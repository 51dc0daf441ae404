"""The drift monitor client and the monitoring loop against a small real HTTP server on loopback that
imitates the drift monitor's API (tumbling windows of a few requests, results with a `seq`), so that what
goes over the wire is checked: the registered bundle, the events in CloudEvents batch mode, the results
cursor. The drift tests themselves are not imitated: each full window is given the server's set verdict."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from cxops.canary.events import EVENT_REQUEST, EVENT_RESPONSE, EventLog, inference_event, log_root
from cxops.config import Settings
from cxops.governance.service import Governance
from cxops.monitoring.client import BATCH_CONTENT_TYPE, DriftMonitorClient
from cxops.monitoring.errors import (
    MonitoringInvalidError,
    MonitoringNotFoundError,
    MonitorUnavailableError,
)
from cxops.monitoring.loop import MonitorLoop, watched_models
from cxops.monitoring.service import MonitoringService
from cxops.registry import Stage

WINDOW = 3
DRIFTED = ["tenure", "MonthlyCharges", "Contract"]


@dataclass
class FakeMonitor:
    """The drift monitor's API over in-memory state; every call is kept for the tests to read."""

    verdict: str = "drift"
    detectors: dict[tuple[str, str], str] = field(default_factory=dict)
    windows: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    tested: dict[tuple[str, str], int] = field(default_factory=dict)
    results: list[dict[str, Any]] = field(default_factory=list)
    batches: list[tuple[str, list[str]]] = field(default_factory=list)
    """(content type, event ids) per POST /."""
    registrations: list[dict[str, Any]] = field(default_factory=list)
    result_queries: list[dict[str, str]] = field(default_factory=list)
    evaluations: list[dict[str, Any]] = field(default_factory=list)

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    def _test(self, key: tuple[str, str], rows: list[dict[str, Any]], verdict: str) -> dict[str, Any]:
        index = self.tested.get(key, 0)
        self.tested[key] = index + 1
        result = {
            "seq": len(self.results) + 1,
            "id": str(uuid.uuid4()),
            "model": key[0],
            "version": key[1],
            "created_at": "2026-12-07T17:00:00Z",
            "verdict": verdict,
            "window": {"start": rows[0]["time"], "end": rows[-1]["time"], "rows": len(rows), "index": index},
            "detector": "TabularDrift",
            "p_value": 0.05,
            "threshold": 0.05 / len(DRIFTED),
            "features": [
                {"name": n, "test": "ks", "statistic": 0.4, "p_value": 1e-6, "drift": verdict == "drift"}
                for n in DRIFTED
            ],
            "drifted_features": DRIFTED if verdict == "drift" else [],
            "quality": {"failed": False, "reasons": [], "invalid_fraction": 0.0, "violations": {}},
        }
        self.results.append(result)
        return result

    async def ingest(self, request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        try:
            events = json.loads(await request.body())
        except json.JSONDecodeError:
            return JSONResponse({"error": "the body is not JSON"}, status_code=400)
        if content_type != BATCH_CONTENT_TYPE or not isinstance(events, list):
            return JSONResponse({"error": "a batch is a JSON list of structured events"}, status_code=400)
        self.batches.append((content_type, [e["id"] for e in events]))
        accepted = ignored = 0
        for event in events:
            key = (event["inferenceservicename"], str(event.get("cxopsversion")))
            if event["type"] != EVENT_REQUEST or key not in self.detectors:
                ignored += 1
                continue
            accepted += 1
            window = self.windows.setdefault(key, [])
            window.append(event)
            if len(window) == WINDOW:
                self._test(key, window, self.verdict)
                self.windows[key] = []
        return JSONResponse({"accepted": accepted, "ignored": ignored}, status_code=202)

    async def register(self, request: Request) -> Response:
        body = await request.json()
        self.registrations.append(body)
        if not (Path(body["bundle"]) / "monitor.json").is_file():
            return JSONResponse({"error": f"no drift bundle at {body['bundle']}"}, status_code=404)
        key = (body["model"], body["version"])
        status = 200 if key in self.detectors else 201
        self.detectors[key] = body["bundle"]
        return JSONResponse({"model": key[0], "version": key[1]}, status_code=status)

    async def list_detectors(self, request: Request) -> Response:
        return JSONResponse(
            {
                "detectors": [
                    {"model": m, "version": v, "window_rows": len(self.windows.get((m, v), []))}
                    for m, v in self.detectors
                ]
            }
        )

    async def evaluate(self, request: Request) -> Response:
        body = await request.json()
        self.evaluations.append(body)
        new = []
        for key, rows in self.windows.items():
            if rows and body.get("model") in (None, key[0]):
                new.append(self._test(key, rows, "no_drift"))
                self.windows[key] = []
        return JSONResponse({"results": new})

    async def list_results(self, request: Request) -> Response:
        query = dict(request.query_params)
        self.result_queries.append(query)
        if query.get("model") == "boom":
            return PlainTextResponse("Internal Server Error", status_code=500)
        found = [
            r
            for r in self.results
            if r["seq"] > int(query.get("after", 0))
            and query.get("model") in (None, r["model"])
            and query.get("version") in (None, r["version"])
        ]
        return JSONResponse({"results": found[: int(query.get("limit", 50))]})

    def app(self) -> Starlette:
        async def healthz(request: Request) -> Response:
            return PlainTextResponse("ok")

        return Starlette(
            routes=[
                Route("/", self.ingest, methods=["POST"]),
                Route("/v1/detectors", self.register, methods=["POST"]),
                Route("/v1/detectors", self.list_detectors, methods=["GET"]),
                Route("/v1/evaluate", self.evaluate, methods=["POST"]),
                Route("/v1/results", self.list_results, methods=["GET"]),
                Route("/healthz", healthz),
            ]
        )


@pytest.fixture(scope="module")
def _served() -> Iterator[tuple[FakeMonitor, str]]:
    fake = FakeMonitor()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(fake.app(), log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the fake drift monitor did not start"
        time.sleep(0.01)
    yield fake, f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    sock.close()


@pytest.fixture
def fake(_served: tuple[FakeMonitor, str]) -> FakeMonitor:
    _served[0].reset()
    return _served[0]


@pytest.fixture
def client(_served: tuple[FakeMonitor, str]) -> Iterator[DriftMonitorClient]:
    with DriftMonitorClient(_served[1] + "/", timeout_s=5) as opened:
        yield opened


@pytest.fixture
def closed_url() -> str:
    """A loopback URL nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def gov(tmp_path: Path, sqlite_url: str) -> Iterator[Governance]:
    with Governance.from_settings(Settings(home=tmp_path / "home", database_url=sqlite_url)) as opened:
        yield opened


def _bundle(tmp_path: Path, name: str = "churn-1") -> Path:
    bundle = tmp_path / "artifacts" / name / "drift"
    bundle.mkdir(parents=True)
    (bundle / "monitor.json").write_text(json.dumps({"format": 1, "model": "churn"}))
    return bundle


@pytest.fixture
def bundle(gov: Governance, tmp_path: Path, add_version: Any) -> Path:
    """churn:1 in production with its drift reference."""
    path = _bundle(tmp_path)
    add_version(gov.registry, "churn", Stage.PRODUCTION, artifacts={"drift_reference": str(path)})
    return path


@pytest.fixture
def service(gov: Governance, recording_launcher: Any) -> MonitoringService:
    return MonitoringService(gov, launcher_factory=lambda: recording_launcher)


def _log_calls(gov: Governance, first: int, count: int, model: str = "churn") -> None:
    """Requests and responses of churn:1 in the gateway's request log."""
    at = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    events = []
    for n in range(first, first + count):
        for kind, data in (
            (EVENT_REQUEST, {"instances": [{"tenure": n}]}),
            (EVENT_RESPONSE, {"predictions": [0.3]}),
        ):
            events.append(
                inference_event(
                    kind,
                    request_id=f"{model}-{n}",
                    source="gateway",
                    model=model,
                    endpoint="default",
                    version="1",
                    data=data,
                    time=at + timedelta(seconds=n),
                )
            )
    EventLog(log_root(gov.settings)).append(events)


def _loop(service: MonitoringService, client: DriftMonitorClient, said: list[str]) -> MonitorLoop:
    return MonitorLoop(service, client, models=["churn"], announce=said.append)


def test_the_client_speaks_the_monitor_api(
    fake: FakeMonitor, client: DriftMonitorClient, tmp_path: Path
) -> None:
    assert client.healthy()
    bundle = _bundle(tmp_path)
    assert client.register("churn", 1, bundle) == {"model": "churn", "version": "1"}
    assert fake.registrations == [{"model": "churn", "version": "1", "bundle": str(bundle)}]
    assert client.detectors() == [{"model": "churn", "version": "1", "window_rows": 0}]
    requests = [
        inference_event(
            EVENT_REQUEST,
            request_id=f"r{n}",
            source="s",
            model="churn",
            endpoint="default",
            version="1",
            data={},
        )
        for n in range(WINDOW + 1)
    ]
    assert client.send(requests) == {"accepted": WINDOW + 1, "ignored": 0}
    assert fake.batches == [(BATCH_CONTENT_TYPE, ["r0", "r1", "r2", "r3"])]
    [tested] = client.results(model="churn", version=1)
    assert tested["verdict"] == "drift" and tested["window"]["rows"] == WINDOW
    assert fake.result_queries[-1] == {"after": "0", "limit": "200", "model": "churn", "version": "1"}
    [partial] = client.evaluate("churn")
    assert fake.evaluations == [{"model": "churn"}] and partial["window"]["rows"] == 1
    assert client.results(after=tested["seq"]) == [partial]


def test_the_client_turns_the_monitors_refusals_into_platform_errors(
    fake: FakeMonitor, client: DriftMonitorClient, tmp_path: Path
) -> None:
    with pytest.raises(MonitoringNotFoundError) as missing:
        client.register("churn", 1, tmp_path / "nowhere")
    assert (
        str(missing.value)
        == f"drift monitor POST /v1/detectors: 404 no drift bundle at {tmp_path / 'nowhere'}"
    )
    with pytest.raises(MonitoringInvalidError, match="400 a batch is a JSON list of structured events"):
        client.send({"not": "a list"})  # type: ignore[arg-type]
    with pytest.raises(MonitorUnavailableError, match="GET /v1/results: 500 Internal Server Error") as failed:
        client.results(model="boom")
    assert failed.value.status_code == 503


def test_an_unreachable_monitor_names_its_url_and_how_to_start_it(closed_url: str) -> None:
    with DriftMonitorClient(closed_url, timeout_s=2) as client:
        assert not client.healthy()
        with pytest.raises(MonitorUnavailableError) as caught:
            client.results()
    message = str(caught.value)
    assert f"the drift monitor at {closed_url} cannot be reached" in message
    assert "start it with `cxops monitor serve` or set CXOPS_MONITOR_URL" in message
    assert caught.value.status_code == 503


def test_the_loop_watches_production_feeds_the_log_and_acts_on_drift(
    fake: FakeMonitor,
    client: DriftMonitorClient,
    gov: Governance,
    bundle: Path,
    service: MonitoringService,
    recording_launcher: Any,
    add_version: Any,
) -> None:
    _log_calls(gov, 0, WINDOW + 1)
    said: list[str] = []
    loop = _loop(service, client, said)
    summary = loop.tick()

    assert summary.registered == ["churn:1"] and fake.detectors == {("churn", "1"): str(bundle)}
    assert summary.events_sent == WINDOW + 1  # requests only: responses stay behind
    assert fake.batches == [(BATCH_CONTENT_TYPE, ["churn-0", "churn-1", "churn-2", "churn-3"])]
    [result] = summary.results
    [alert] = summary.alerts
    assert alert.source_id == result["id"] and alert.action == "retrain" and alert.retrain_run_id == 1
    assert [c["trigger"] for c in recording_launcher.calls] == ["retrain:1"]
    assert said[0] == "watching churn:1"
    assert said[1].startswith(
        "alert 1: drift on churn:1 over 3 requests: tenure, MonthlyCharges, Contract → retrain "
        "(retraining run 1): drift alert"
    )

    # Nothing new: nothing sent, the detector not registered again, results read after the cursor.
    again = loop.tick()
    assert (again.registered, again.events_sent, again.results) == ([], 0, [])
    assert len(fake.registrations) == 1 and fake.result_queries[-1]["after"] == str(result["seq"])

    # A restarted loop keeps the feed's offsets and the results cursor: nothing is sent or alerted twice.
    restarted = _loop(service, client, said)
    _log_calls(gov, WINDOW + 1, 1)
    after_restart = restarted.tick()
    assert after_restart.registered == ["churn:1"] and after_restart.events_sent == 1
    assert fake.batches[-1] == (BATCH_CONTENT_TYPE, ["churn-4"])
    assert after_restart.results == [] and fake.result_queries[-1]["after"] == str(result["seq"])
    assert len(service.alerts(gov.actor("sam"))) == 1

    # The retraining registers its candidate: the next tick closes the run.
    version = add_version(gov.registry, "churn", lineage={"trigger": "retrain:1"})
    [finished] = restarted.tick().finished_runs
    assert (finished.id, finished.status, finished.version) == (1, "succeeded", version)
    assert said[-1] == f"retraining run 1 of churn registered version {version} (candidate)"


def test_results_without_drift_or_of_other_models_only_move_the_cursor(
    fake: FakeMonitor, client: DriftMonitorClient, gov: Governance, bundle: Path, service: MonitoringService
) -> None:
    fake.verdict = "no_drift"
    fake.detectors[("intent", "1")] = "elsewhere"
    _log_calls(gov, 0, WINDOW)
    _log_calls(gov, 0, WINDOW, model="intent")
    client.send(_intent_requests(WINDOW))  # another feeder's window of intent
    said: list[str] = []
    summary = _loop(service, client, said).tick()
    assert [(r["model"], r["verdict"]) for r in summary.results] == [
        ("intent", "no_drift"),
        ("churn", "no_drift"),
    ]
    assert summary.alerts == [] and service.alerts(gov.actor("sam")) == []
    assert "churn:1 no drift over 3 requests" in said and not any("intent" in s for s in said)
    cursor = json.loads((gov.settings.home_dir / "monitoring" / "results-cursor.json").read_text())
    assert cursor == {"after": 2}
    # The loop feeds only its models: intent's logged requests stay behind.
    assert [ids for _, ids in fake.batches[1:]] == [["churn-0", "churn-1", "churn-2"]]


def _intent_requests(count: int) -> list[dict[str, Any]]:
    return [
        inference_event(
            EVENT_REQUEST,
            request_id=f"intent-direct-{n}",
            source="s",
            model="intent",
            endpoint="default",
            version="1",
            data={"instances": [{"text": "hello"}]},
        )
        for n in range(count)
    ]


def test_a_version_without_a_usable_reference_is_announced_once_and_skipped(
    fake: FakeMonitor,
    client: DriftMonitorClient,
    gov: Governance,
    service: MonitoringService,
    add_version: Any,
    tmp_path: Path,
) -> None:
    add_version(gov.registry, "churn", Stage.PRODUCTION)
    refused = tmp_path / "no-monitor-json"
    refused.mkdir()
    add_version(gov.registry, "churn", Stage.STAGING, artifacts={"drift_reference": str(refused)})
    from cxops.canary.service import CanaryService

    CanaryService(gov).start(gov.actor("sam"), "churn", 2)
    said: list[str] = []
    loop = _loop(service, client, said)
    assert loop.tick().registered == [] and loop.tick().registered == []
    assert said == [
        "churn:1 is not watched: churn:1 has no drift reference (it was trained before drift monitoring, "
        "or its artifacts were removed); retrain it with `cxops pipeline run` to get one",
        f"churn:2 is not watched: drift monitor POST /v1/detectors: 404 no drift bundle at {refused}",
    ]
    assert len(fake.registrations) == 1


def test_an_unreachable_monitor_stops_the_tick(
    closed_url: str, gov: Governance, bundle: Path, service: MonitoringService
) -> None:
    _log_calls(gov, 0, 2)
    with DriftMonitorClient(closed_url, timeout_s=2) as client:
        loop = _loop(service, client, [])
        with pytest.raises(MonitorUnavailableError, match="cxops monitor serve"):
            loop.tick()
    # Nothing was delivered, so nothing was committed: a later tick sends the events.
    assert not (gov.settings.home_dir / "monitoring" / "feed-offsets.json").exists()


def test_the_scheduled_check_tests_partial_windows_and_performance(
    fake: FakeMonitor, client: DriftMonitorClient, gov: Governance, bundle: Path, service: MonitoringService
) -> None:
    _log_calls(gov, 0, WINDOW - 1)
    said: list[str] = []
    summary = _loop(service, client, said).check()
    assert summary.events_sent == WINDOW - 1 and fake.evaluations == [{"model": "churn"}]
    [partial] = summary.results
    assert partial["verdict"] == "no_drift" and partial["window"]["rows"] == WINDOW - 1
    assert summary.alerts == []  # no late labels yet: no performance alert


def test_the_models_watched_by_default_are_those_with_a_detector(service: MonitoringService) -> None:
    assert watched_models(service) == ["churn", "intent", "sentiment"]
