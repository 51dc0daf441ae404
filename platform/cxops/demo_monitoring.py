"""The monitoring part of `make demo`: the drift monitor watches churn in production through the gateway's
request log. Subscribers like the training data pass; then the customer base shifts (longer tenures,
higher bills, more month-to-month contracts) and the monitor flags drift on those features, the alert is
audited and, as policies/monitoring.yaml allows for churn, retrains it: the new version lands as a
candidate, for the gates and a canary to judge. Last, an upstream bug sends broken rows: a data-quality
failure that pages data engineering and retrains nothing."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import httpx
import numpy as np
import pandas as pd

from cxops.cli._output import console
from cxops.config import Settings

__all__ = ["broken_upstream", "shifted_subscribers", "v1_body", "watch_for_drift"]

BATCH = 50
"""Rows per request: an application scoring a page of subscribers at a time."""
RETRAIN_TIMEOUT_S = 900.0


def shifted_subscribers(raw: pd.DataFrame, seed: int = 11) -> pd.DataFrame:
    """Subscribers a year on: tenures 18 months longer, bills 35 % higher, most on month-to-month."""
    rng = np.random.default_rng(seed)
    out = raw.copy()
    out["tenure"] = (out["tenure"].astype(int) + 18).clip(upper=120)
    out["MonthlyCharges"] = (out["MonthlyCharges"].astype(float) * 1.35).round(2)
    out["TotalCharges"] = (out["MonthlyCharges"] * out["tenure"].clip(lower=1)).round(2)
    switch = rng.random(len(out)) < 0.6
    out.loc[switch, "Contract"] = "Month-to-month"
    return out


def broken_upstream(rows: list[dict[str, Any]], seed: int = 12) -> list[dict[str, Any]]:
    """An upstream join gone wrong: a quarter of the rows lose their charges or get impossible values."""
    rng = np.random.default_rng(seed)
    broken = []
    for row in rows:
        row = dict(row)
        draw = rng.random()
        if draw < 0.1:
            row["MonthlyCharges"] = None
        elif draw < 0.2:
            row["tenure"] = -int(rng.integers(1, 12))
        elif draw < 0.25:
            row["Contract"] = "Weekly"
        broken.append(row)
    return broken


def model_rows(settings: Settings, model: str, raw: pd.DataFrame) -> list[dict[str, Any]]:
    """The model's inputs of raw subscriber rows, as an application would send them."""
    from cxops.demo import _plain
    from cxops.specs import load_model_code, load_spec

    features = load_model_code(model, settings).derive_features(raw)
    names = load_spec(model, settings).features.names
    return [
        {n: _plain(v) for n, v in zip(names, values, strict=True)}
        for values in features[names].itertuples(index=False)
    ]


def v1_body(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"instances": rows}


def send_rows(url: str, model: str, rows: list[dict[str, Any]]) -> int:
    """Send `rows` in pages of `BATCH` to the KServe V1 route; returns how many requests were answered 200."""
    answered = 0
    with httpx.Client(timeout=60.0) as client:
        for start in range(0, len(rows), BATCH):
            response = client.post(
                f"{url}/v1/models/{model}:predict", json=v1_body(rows[start : start + BATCH])
            )
            answered += response.status_code == 200
    return answered


def watch_for_drift(settings: Settings, model: str, raw: pd.DataFrame) -> None:
    from cxops.canary.consent import ProfilingOptOut
    from cxops.canary.gateway import create_gateway
    from cxops.canary.local import bento_launcher, local_routes
    from cxops.canary.service import CanaryService
    from cxops.features.client import FeatureStoreClient
    from cxops.governance.service import Governance
    from cxops.monitoring.client import DriftMonitorClient
    from cxops.monitoring.local import monitoring_dir, start_drift_service
    from cxops.monitoring.loop import MonitorLoop
    from cxops.monitoring.report import write_drift_report
    from cxops.monitoring.service import MonitoringService
    from cxops.serving.thread_server import ThreadServer

    console.print(
        f"  starting the drift monitor (Alibi Detect 0.11.4 in .venv-monitor) on {settings.monitor_url}"
    )
    drift = start_drift_service(settings)
    with contextlib.ExitStack() as stack:
        stack.callback(drift.stop)
        gov = stack.enter_context(Governance.from_settings(settings))
        client = stack.enter_context(DriftMonitorClient(settings.monitor_url))
        monitoring = MonitoringService(gov)
        loop = MonitorLoop(monitoring, client, models=[model], announce=_say)
        production = gov.production_version(model)
        loop.load_detectors()
        canaries = CanaryService(gov)
        routes = stack.enter_context(local_routes(canaries, [model], bento_launcher(canaries, settings)))
        app = create_gateway(routes, settings, opt_out=ProfilingOptOut(FeatureStoreClient(settings)))
        gateway = stack.enter_context(ThreadServer(app))
        window = next(d["window_size"] for d in client.detectors() if d["model"] == model)
        sample = raw.sample(window, random_state=21)
        phases: list[tuple[str, list[dict[str, Any]]]] = [
            ("subscribers like the training data", model_rows(settings, model, sample)),
            (
                "a year on: longer tenures, higher bills, more month-to-month",
                model_rows(settings, model, shifted_subscribers(raw.sample(window, random_state=22))),
            ),
            (
                "an upstream bug: nulls and impossible values",
                broken_upstream(model_rows(settings, model, raw.sample(window, random_state=23))),
            ),
        ]
        drift_result = None
        for title, rows in phases:
            answered = send_rows(gateway.url, model, rows)
            app.state.gateway.flush()
            console.print(
                f"  {len(rows)} rows ({title}) in {-(-len(rows) // BATCH)} requests, {answered} answered 200"
            )
            summary = _tick_until_tested(loop)
            drift_result = next((r for r in summary.results if r["verdict"] == "drift"), drift_result)
        if drift_result is not None:
            bundle = monitoring.drift_reference(model, int(drift_result["version"]))
            report = write_drift_report(
                drift_result,
                bundle,
                monitoring_dir(settings) / "reports" / f"{model}.html",
                history=client.all_results(model=model),
            )
            console.print(f"  drift report: {report}")
        _wait_for_retraining(monitoring, model, production.version if production else None)
    _show_alerts(settings, model)


def _tick_until_tested(loop: Any, timeout_s: float = 120.0) -> Any:
    """Tick until the monitor has tested the window just sent (detection runs off its event loop)."""
    from cxops.monitoring.loop import TickSummary

    merged = TickSummary()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        summary = loop.tick()
        merged.events_sent += summary.events_sent
        merged.results += summary.results
        merged.alerts += summary.alerts
        if merged.results:
            return merged
        time.sleep(1.0)
    console.print("  [yellow]the drift monitor tested no window in time[/]")
    return merged


def _wait_for_retraining(monitoring: Any, model: str, production: int | None) -> None:
    runs = monitoring.runs(None, model)
    if not runs:
        console.print("  no retraining was started")
        return
    run = runs[0]
    console.print(
        f"  waiting for retraining run {run.id} (the training pipeline with kfp.local, in the background)"
    )
    deadline = time.monotonic() + RETRAIN_TIMEOUT_S
    while run.status in ("starting", "running") and time.monotonic() < deadline:
        time.sleep(5.0)
        monitoring.refresh_runs(model)
        run = monitoring.run(run.id)
    if run.status == "succeeded":
        record = monitoring.gov.registry.get_version(model, run.version)
        console.print(
            f"  retraining run {run.id} registered {record.ref} as a {record.stage.value} "
            f"(lineage trigger {record.lineage.get('trigger')}); production stays {model}:{production} "
            "until the gates and a canary say otherwise"
        )
    else:
        console.print(f"  [yellow]retraining run {run.id} is {run.status}: {run.detail}[/]")


def _show_alerts(settings: Settings, model: str) -> None:
    from rich.markup import escape
    from rich.table import Table

    from cxops.governance.service import Governance
    from cxops.monitoring.service import MonitoringService

    with Governance.from_settings(settings) as gov:
        service = MonitoringService(gov)
        alerts = service.alerts(gov.actor(settings.actor), model)
    table = Table("alert", "kind", "action", "why", title=f"monitoring alerts of {model}")
    for a in reversed(alerts):
        table.add_row(str(a.id), a.kind, a.action, escape(a.action_reason))
    console.print(table)


def _say(line: str) -> None:
    console.print(f"  {line}")
