"""The retraining loop end to end, on real processes: churn trained by the pipeline and served by BentoML
behind the gateway, the drift monitor (Alibi Detect, in its own environment) fed from the gateway's request
log, and the platform acting on its results by policy.

Subscribers like the training data raise nothing; shifted subscribers (longer tenures, higher bills, more
month-to-month contracts) are flagged as drift on those features, and the alert starts a retraining run that
registers a new candidate; broken rows from an upstream bug are a data-quality failure that pages data
engineering and retrains nothing.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cxops.config import Settings
from cxops.demo_monitoring import broken_upstream, model_rows, send_rows, shifted_subscribers
from cxops.registry import Stage

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "churn"
KEY = "drift-end-to-end-key-0123456789abc"
SHIFTED = {"tenure", "MonthlyCharges", "TotalCharges", "Contract"}
UNTOUCHED = {"SeniorCitizen", "Partner", "Dependents", "PhoneService", "StreamingTV", "PaymentMethod"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class World:
    settings: Settings
    gov: Any
    monitoring: Any
    loop: Any
    gateway_url: str
    flush: Any
    raw: pd.DataFrame
    production: int

    def send_and_test(
        self, rows: list[dict[str, Any]], *, valid: bool = True, timeout_s: float = 180.0
    ) -> list[dict[str, Any]]:
        """Send `rows` through the gateway, then tick until the monitor has tested them. Valid rows are
        all answered; the server refuses pages with broken rows, and the log keeps them all the same."""
        answered = send_rows(self.gateway_url, MODEL, rows)
        assert answered == -(-len(rows) // 50) if valid else answered < -(-len(rows) // 50)
        self.flush()
        results: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout_s
        while not results and time.monotonic() < deadline:
            results = self.loop.tick().results
            time.sleep(0.5)
        assert results, "the drift monitor tested no window"
        return results


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from cxops.canary.consent import ProfilingOptOut
    from cxops.canary.gateway import create_gateway
    from cxops.canary.local import bento_launcher, local_routes
    from cxops.canary.service import CanaryService
    from cxops.features.client import FeatureStoreClient
    from cxops.governance.service import Governance
    from cxops.lifecycle.pipeline import run_pipeline
    from cxops.monitoring.client import DriftMonitorClient
    from cxops.monitoring.local import start_drift_service
    from cxops.monitoring.loop import MonitorLoop
    from cxops.monitoring.service import MonitoringService
    from cxops.serving.thread_server import ThreadServer

    tmp = tmp_path_factory.mktemp("drift")
    settings = Settings(
        home=tmp / "home",
        actor="maya",
        pseudonym_key=KEY,
        monitor_url=f"http://127.0.0.1:{_free_port()}",
    )
    record = run_pipeline(MODEL, settings, rows=1500, seed=5)["record"]
    assert Path(record.artifacts["drift_reference"], "monitor.json").is_file()
    with contextlib.ExitStack() as stack:
        gov = stack.enter_context(Governance.from_settings(settings))
        # The loop under test starts at a production version, however it got there: an admin's audited
        # override stands in for the gates a small training set need not pass.
        admin = gov.actor("root-admin")
        for stage in (Stage.STAGING, Stage.PRODUCTION):
            gov.promote(admin, MODEL, record.version, stage, reason="drift test set-up", override=True)
        raw = pd.read_parquet(gov.registry.get_dataset(MODEL, record.dataset_version).uri)

        stack.callback(start_drift_service(settings).stop)
        client = stack.enter_context(DriftMonitorClient(settings.monitor_url))
        monitoring = MonitoringService(gov)
        loop = MonitorLoop(monitoring, client, models=[MODEL])
        canaries = CanaryService(gov)
        routes = stack.enter_context(local_routes(canaries, [MODEL], bento_launcher(canaries, settings)))
        app = create_gateway(routes, settings, opt_out=ProfilingOptOut(FeatureStoreClient(settings)))
        gateway = stack.enter_context(ThreadServer(app))
        yield World(
            settings, gov, monitoring, loop, gateway.url, app.state.gateway.flush, raw, record.version
        )


def test_reference_like_traffic_raises_nothing(world: World) -> None:
    rows = model_rows(world.settings, MODEL, world.raw.sample(300, random_state=31))
    [result] = world.send_and_test(rows)
    assert result["verdict"] == "no_drift", result
    assert result["model"] == MODEL and str(result["version"]) == str(world.production)
    assert result["window"]["rows"] == 300
    assert world.monitoring.alerts(world.gov.actor("maya"), MODEL) == []


def test_shifted_traffic_is_drift_on_the_shifted_features_and_retrains_a_candidate(world: World) -> None:
    rows = model_rows(world.settings, MODEL, shifted_subscribers(world.raw.sample(300, random_state=32)))
    [result] = world.send_and_test(rows)
    drifted = set(result["drifted_features"])
    assert result["verdict"] == "drift"
    assert drifted >= SHIFTED, drifted
    assert not drifted & UNTOUCHED, drifted

    [alert] = world.monitoring.alerts(world.gov.actor("maya"), MODEL)
    assert alert.kind == "drift" and alert.action == "retrain" and alert.retrain_run_id is not None
    events = world.gov.registry.audit_events(model=MODEL)
    assert any(e.action == "monitoring.drift_detected" for e in events)

    deadline = time.monotonic() + 600
    run = world.monitoring.run(alert.retrain_run_id)
    while run.status in ("starting", "running") and time.monotonic() < deadline:
        time.sleep(3)
        world.monitoring.refresh_runs(MODEL)
        run = world.monitoring.run(alert.retrain_run_id)
    log = world.settings.home_dir / "monitoring" / "retrain"
    assert run.status == "succeeded", (run, [p.read_text()[-3000:] for p in log.glob("*.log")])
    retrained = world.gov.registry.get_version(MODEL, run.version)
    assert retrained.stage is Stage.CANDIDATE
    assert retrained.lineage["trigger"] == f"retrain:{run.id}"
    assert world.gov.production_version(MODEL).version == world.production  # nothing promoted by drift


def test_a_data_quality_failure_pages_and_does_not_retrain(world: World) -> None:
    runs_before = world.monitoring.runs(None, MODEL)
    rows = broken_upstream(model_rows(world.settings, MODEL, world.raw.sample(300, random_state=33)))
    results = world.send_and_test(rows, valid=False)
    assert results[-1]["verdict"] == "data_quality", results[-1]
    reasons = " ".join(results[-1]["quality"]["reasons"])
    assert "MonthlyCharges" in reasons or "invalid" in reasons
    alert = world.monitoring.alerts(world.gov.actor("maya"), MODEL)[0]
    assert alert.kind == "data_quality" and alert.action == "page_data_engineering"
    assert alert.retrain_run_id is None
    assert world.monitoring.runs(None, MODEL) == runs_before
