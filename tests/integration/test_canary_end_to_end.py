"""The automated canary end to end, on real loopback servers: a model server per version (with injected
faults), the local backend starting them from the canary records, the gateway splitting live traffic and
logging it, and the controller deciding each window from those logs.

A candidate that answers errors, answers slower or shifts its predictions is rolled back by the platform
itself in the first window, with the evidence kept and production untouched; a good one climbs the steps
and is promoted to production.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import itertools
import random
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from cxops.canary.controller import CanaryController, Decision
from cxops.canary.events import EVENT_RESPONSE, log_root, read_events
from cxops.canary.gateway import VERSION_HEADER, CanaryGateway, create_gateway
from cxops.canary.local import DatabaseRoutes, local_routes
from cxops.canary.policy import AnalysisPolicy
from cxops.canary.service import CONTROLLER, CanaryRecord, CanaryService
from cxops.config import Settings, project_root
from cxops.governance.service import Governance
from cxops.registry import Stage
from cxops.serving.thread_server import ThreadServer

pytestmark = pytest.mark.integration

MODEL = "churn"
KEY = "canary-end-to-end-key-0123456789"
STEPS = [25, 50, 100]
TTL_S = 0.5
"""How often the gateway re-reads its routing table from the canary records."""
POLICY = AnalysisPolicy(min_requests=50, bins=5)
GOOD_INTERVAL_S = 4
"""The good candidate's windows close in real time: requests are logged with real timestamps, and each
window must hold the requests sent at its step. A faulty candidate's only window closes by moving the
platform's clock on, as soon as its requests are in."""
REQUESTS = 400
"""Requests in a faulty candidate's window: about 100 reach the candidate at 25 %."""
CLIENTS = 8
DELAY_MS = 40.0
"""Every version thinks for this long, so that latencies are the model's more than the scheduling noise of
the servers and clients sharing this process."""


# --- a churn model server whose faults are chosen per version ----------------------------------------------


@dataclass(frozen=True)
class Faults:
    errors: float = 0.0
    """Share of customers whose requests fail with HTTP 500."""
    delay_ms: float = DELAY_MS
    shift: float = 0.0
    """Added to every probability (clipped to 1)."""


def _uniform(salt: str, customer: str) -> float:
    digest = hashlib.sha256(f"{salt}\x00{customer}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def churn_probability(customer: str) -> float:
    """A Beta(2, 5) draw seeded by the customer: every healthy version gives a customer the same score."""
    return random.Random(_uniform("probability", customer)).betavariate(2, 5)


def model_app(version: int, faults: Faults) -> FastAPI:
    """A KServe V2 server of `version`: readiness, and inference on a `customer_id` BYTES input."""
    app = FastAPI()

    @app.get("/v2/health/ready")
    async def ready() -> dict[str, Any]:
        return {"ready": True}

    @app.post(f"/v2/models/{MODEL}/infer")
    async def infer(request: Request) -> JSONResponse:
        body = await request.json()
        customers = next(t["data"] for t in body["inputs"] if t["name"] == "customer_id")
        await asyncio.sleep(faults.delay_ms / 1000)
        if any(_uniform("error", c) < faults.errors for c in customers):
            return JSONResponse({"error": "model crashed"}, status_code=500)
        scores = [min(churn_probability(c) + faults.shift, 1.0) for c in customers]
        rows = [len(scores)]
        return JSONResponse(
            {
                "model_name": MODEL,
                "model_version": str(version),
                "outputs": [
                    {"name": "probability", "datatype": "FP64", "shape": rows, "data": scores},
                    {
                        "name": "label",
                        "datatype": "BYTES",
                        "shape": rows,
                        "data": ["yes" if s >= 0.5 else "no" for s in scores],
                    },
                ],
            }
        )

    return app


# --- the platform ----------------------------------------------------------------------------------------


class Clock:
    """The platform's clock: real time, or later once a window is closed by moving it on."""

    def __init__(self) -> None:
        self.floor = datetime.now(UTC)

    def __call__(self) -> datetime:
        return max(datetime.now(UTC), self.floor)

    def move_to(self, moment: datetime) -> None:
        self.floor = max(self.floor, moment)


@dataclass
class Platform:
    """The platform around one model: its records, local backend, gateway and canary controller."""

    gov: Governance
    canaries: CanaryService
    routes: DatabaseRoutes
    controller: CanaryController
    clock: Clock
    gateway: CanaryGateway
    url: str
    stable: int
    candidate: int

    def start(self, interval_s: int) -> None:
        self.canaries.start(
            self.gov.actor("sam"), MODEL, self.candidate, steps=STEPS, interval_s=interval_s, auto=True
        )
        # The candidate's server starts on demand; wait for it so that the window's traffic reaches it.
        self.routes.servers.wait(MODEL, self.candidate, timeout=30)

    def window_end(self) -> datetime:
        record = self.canaries.active(MODEL)
        assert record is not None
        start = record.evidence[-1]["window_end"] if record.evidence else record.started_at
        start = start if isinstance(start, datetime) else datetime.fromisoformat(start)
        return start + timedelta(seconds=record.interval_s)

    def close_window(self) -> Decision | None:
        """Write the log, move the clock to the end of the current window (unless real time is past it)
        and let the controller decide."""
        assert self.gateway.flush()
        if self.canaries.active(MODEL) is not None:
            self.clock.move_to(self.window_end())
        return self.controller.tick(MODEL)

    def route(self, settled: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The gateway's route once `settled` (the table is re-read from the records every `TTL_S`)."""
        deadline = time.monotonic() + 10 * TTL_S + 5
        while not settled(route := self.gateway.status()["models"][MODEL]["route"]):
            assert time.monotonic() < deadline, route
            time.sleep(TTL_S / 5)
        return route

    def history(self) -> list[CanaryRecord]:
        return self.canaries.history(self.gov.actor("sam"), MODEL)


def _project(root: Path) -> Path:
    """A project whose promotion policy keeps, of the production gates, the ownership and the approval.

    Why: the other gates judge offline evidence (validated training data, evaluation metrics, bias, a signed
    DPIA) that a fake model server has none of, while the online evidence is exactly what the canary
    checks; the approval by the compliance officer stays, so promotion is still a governed decision."""
    repo = project_root()
    shutil.copytree(repo / "policies", root / "policies")
    (root / "models" / MODEL).mkdir(parents=True)
    shutil.copy(repo / "models" / MODEL / "spec.yaml", root / "models" / MODEL / "spec.yaml")
    promotion = root / "policies" / "promotion.yaml"
    policy = yaml.safe_load(promotion.read_text())
    policy["gates"] = {"staging": ["ownership"], "production": ["ownership", "approval"]}
    promotion.write_text(yaml.safe_dump(policy))
    return root


def _version(gov: Governance, stage: Stage) -> int:
    """A new churn version moved to `stage` through governance (approved by dana for production)."""
    maya, dana = gov.actor("maya"), gov.actor("dana")
    version = gov.registry.register_version(
        MODEL,
        metrics={},
        artifacts={},
        params={},
        lineage={},
        owner="retention-analytics",
        team="customer-retention",
        created_by="maya",
        dataset_version=None,
    ).version
    gov.promote(maya, MODEL, version, Stage.STAGING, reason="ready for a canary")
    if stage is Stage.PRODUCTION:
        gov.approve(dana, MODEL, version, Stage.PRODUCTION, comment="first release")
        gov.promote(maya, MODEL, version, Stage.PRODUCTION, reason="first release")
    return version


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=[pytest.mark.integration, pytest.mark.full])]
)
def database_url(request: pytest.FixtureRequest) -> str:
    """The canary loop on SQLite; its PostgreSQL run is the exhaustive variant (`make test-full`): the
    records it reads and writes are tested on both backends in tests/unit/canary."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def make_platform(tmp_path: Path, database_url: str) -> Iterator[Callable[[Faults], Platform]]:
    """`make_platform(faults)`: the platform with a production version and a candidate with `faults`."""
    with contextlib.ExitStack() as stack:

        def make(faults: Faults) -> Platform:
            settings = Settings(
                home=tmp_path / "home",
                root=_project(tmp_path / "project"),
                database_url=database_url,
                pseudonym_key=KEY,
            )
            gov = stack.enter_context(Governance.from_settings(settings))
            clock = Clock()
            gov.clock = clock
            stable, candidate = _version(gov, Stage.PRODUCTION), _version(gov, Stage.STAGING)
            by_version = {stable: Faults(), candidate: faults}
            canaries = CanaryService(gov)
            routes = stack.enter_context(
                local_routes(
                    canaries, [MODEL], lambda _, v: ThreadServer(model_app(v, by_version[v])), ttl_s=TTL_S
                )
            )
            # Occasional 5xx are the analysis's to judge; a long streak of them (here 10, for a candidate
            # failing one customer in seven) would make the gateway give up on the candidate first.
            app = create_gateway(routes, settings, opt_out=lambda _: False, unhealthy_after=10)
            server = stack.enter_context(ThreadServer(app))
            controller = CanaryController(canaries, POLICY)
            gateway = app.state.gateway
            return Platform(gov, canaries, routes, controller, clock, gateway, server.url, stable, candidate)

        yield make


# --- traffic ---------------------------------------------------------------------------------------------


def drive(url: str, name: str, *, requests: int | None = None, until: datetime | None = None) -> list[str]:
    """POST one V2 inference per new customer, `CLIENTS` at a time, until `requests` are sent or real time
    reaches `until`; returns the version that answered each (every answer must be a success)."""
    numbers = itertools.count()

    async def client(http: httpx.AsyncClient) -> list[str]:
        versions = []
        while (number := next(numbers)) < (sys.maxsize if requests is None else requests) and (
            until is None or datetime.now(UTC) < until
        ):
            customer = f"{name}-{number:05d}"
            body = {
                "inputs": [{"name": "customer_id", "datatype": "BYTES", "shape": [1], "data": [customer]}]
            }
            response = await http.post(f"/v2/models/{MODEL}/infer", json=body)
            assert response.status_code == 200, response.text
            versions.append(response.headers[VERSION_HEADER])
        return versions

    async def clients() -> list[str]:
        # One event loop rather than a thread per client: fewer threads contending with the servers.
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            answered = await asyncio.gather(*(client(http) for _ in range(CLIENTS)))
        return [version for versions in answered for version in versions]

    # A full garbage collection stalls every server of this process at once, making a latency outlier of
    # each request in flight; the p95 check reads the extreme order statistics of ~100 requests, so collect
    # before the window rather than during it.
    gc.collect()
    return asyncio.run(clients())


# --- the scenarios ---------------------------------------------------------------------------------------


def _checks(platform: Platform) -> list[str]:
    """What each check of the canary's last window found (shown when an assertion on it fails)."""
    [canary] = platform.history()
    return [check["explanation"] for check in canary.evidence[-1].get("checks", [])]


def _assert_rolled_back_by_the_platform(platform: Platform, outcome: str) -> CanaryRecord:
    [canary] = platform.history()
    assert canary.status == "rolled_back" and canary.outcome.startswith(outcome), canary.outcome
    [event] = platform.gov.registry.audit_events(model=MODEL, action="deployment.rolled_back")
    assert (event.actor, event.version) == (CONTROLLER, platform.candidate)
    assert event.payload["evidence"] == canary.evidence[-1] and canary.evidence[-1]["verdict"] == "fail"
    # Production is untouched, and every customer is back on it.
    production = platform.gov.production_version(MODEL)
    assert production is not None and production.version == platform.stable
    assert platform.gov.registry.get_version(MODEL, platform.candidate).stage is Stage.STAGING
    platform.route(lambda route: route["candidate"] is None)
    assert set(drive(platform.url, "after", requests=40)) == {str(platform.stable)}
    return canary


def test_a_candidate_answering_errors_is_rolled_back_by_its_error_rate(
    make_platform: Callable[[Faults], Platform],
) -> None:
    platform = make_platform(Faults(errors=0.15))
    platform.start(interval_s=60)
    drive(platform.url, "errors", requests=REQUESTS)  # no client sees an error (asserted inside)
    decision = platform.close_window()
    assert decision is not None
    assert (decision.action, decision.verdict, decision.percent) == ("rolled_back", "fail", 25.0), _checks(
        platform
    )
    canary = _assert_rolled_back_by_the_platform(platform, "automated analysis: roll back: failed error_rate")
    [evidence] = canary.evidence
    error_rate = next(c for c in evidence["checks"] if c["name"] == "error_rate")
    assert error_rate["stable"] == 0 and error_rate["candidate"] > 0.05
    # Each failed call was retried on stable, and both are in the log the analysis read.
    responses = read_events(log_root(platform.gov.settings) / MODEL, event_type=EVENT_RESPONSE)
    failed = [e for e in responses if e.get("cxopsstatus") == 500]
    assert failed and {e["cxopsversion"] for e in failed} == {str(platform.candidate)}
    retried = {e["id"] for e in responses if e.get("cxopsfallback")}
    assert retried == {e["id"] + "-fallback" for e in failed}
    assert evidence["counts"]["candidate"]["errors"] == len(failed)


@pytest.mark.parametrize(
    ("faults", "check"),
    [
        pytest.param(Faults(delay_ms=4 * DELAY_MS), "p95_latency", id="slower"),
        pytest.param(Faults(shift=0.3), "prediction_drift", id="shifted"),
    ],
)
def test_a_faulty_candidate_is_rolled_back_by_the_analysis_of_its_first_window(
    make_platform: Callable[[Faults], Platform], faults: Faults, check: str
) -> None:
    platform = make_platform(faults)
    platform.start(interval_s=60)
    versions = drive(platform.url, check, requests=REQUESTS)
    decision = platform.close_window()
    assert decision is not None
    summary = (decision.action, decision.verdict, decision.percent)
    assert summary == ("rolled_back", "fail", 25.0), _checks(platform)
    canary = _assert_rolled_back_by_the_platform(platform, f"automated analysis: roll back: failed {check}")
    [evidence] = canary.evidence
    assert evidence["percent"] == 25.0 and evidence["candidate_version"] == str(platform.candidate)
    verdicts = {c["name"]: c["verdict"] for c in evidence["checks"]}
    assert [name for name, verdict in verdicts.items() if verdict == "fail"] == [check], verdicts
    assert verdicts["error_rate"] == "pass"
    assert "model_metric" in evidence["skipped"]  # no outcomes are known yet
    # The analysis saw every answer of the window, read back from the gateway's log.
    counts = evidence["counts"]
    assert (
        counts["candidate"]["predictions"] == versions.count(str(platform.candidate)) >= POLICY.min_requests
    )
    assert counts["stable"]["predictions"] == versions.count(str(platform.stable))


def test_a_good_candidate_climbs_the_steps_and_is_promoted(
    make_platform: Callable[[Faults], Platform],
) -> None:
    platform = make_platform(Faults())
    # The compliance officer signs the release off in advance; the canary decides when it happens.
    platform.gov.approve(platform.gov.actor("dana"), MODEL, platform.candidate, Stage.PRODUCTION)
    platform.start(interval_s=GOOD_INTERVAL_S)
    actions, answered = [], []
    while platform.canaries.active(MODEL) is not None:
        assert len(actions) < 2 * (1 + POLICY.max_wait_windows), actions
        answered.append(drive(platform.url, f"window{len(actions)}", until=platform.window_end()))
        decision = platform.close_window()
        assert decision is not None
        actions.append(decision.action)
        if decision.action == "advanced":
            platform.route(lambda route: route["percent"] == 50.0)
    # A window may wait for more requests (latencies of servers sharing one process are noisy), but a good
    # candidate fails none: it passes at 25 %, then at 50 %, which promotes it.
    decided = [action for action in actions if action != "waiting"]
    assert decided == ["advanced", "promoted"], _checks(platform)

    [canary] = platform.history()
    assert (canary.status, canary.percent) == ("promoted", 100.0)
    assert "fail" not in [evidence["verdict"] for evidence in canary.evidence]
    windows = zip(canary.evidence, answered, strict=True)
    passed = [(evidence, versions) for evidence, versions in windows if evidence["verdict"] == "pass"]
    assert [evidence["percent"] for evidence, _ in passed] == [25.0, 50.0]
    for evidence, versions in passed:
        assert {c["verdict"] for c in evidence["checks"]} == {"pass"}, evidence["checks"]
        assert evidence["counts"]["candidate"]["predictions"] >= POLICY.min_requests
        assert 0 < versions.count(str(platform.candidate)) < len(versions)
    registry = platform.gov.registry
    assert registry.get_version(MODEL, platform.candidate).stage is Stage.PRODUCTION
    assert registry.get_version(MODEL, platform.stable).stage is Stage.ARCHIVED
    [promoted] = registry.audit_events(model=MODEL, action="deployment.promoted")
    assert promoted.actor == CONTROLLER
    [transition] = [
        t
        for t in platform.gov.history(platform.gov.actor("sam"), MODEL)
        if t.version == platform.candidate and t.to_stage == "production"
    ]
    assert transition.actor == CONTROLLER and [a["approver"] for a in transition.approvals] == ["dana"]
    # The gateway follows: the promoted version now answers everyone.
    platform.route(lambda route: route["stable"]["version"] == str(platform.candidate))
    assert set(drive(platform.url, "after", requests=40)) == {str(platform.candidate)}
