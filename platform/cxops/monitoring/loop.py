"""The monitoring loop: keep the drift monitor's detectors current, feed it, and act on its results.

One `tick()` (1) loads the detectors of the versions that serve traffic (production and a canary's
candidate), (2) sends the request log's new events, (3) reads the monitor's new results and hands every alert
to the platform (`MonitoringService`: recorded, audited, and retrained by policy), (4) closes retraining runs
whose version was registered. Every tested window is also counted in the OpenTelemetry drift metrics.
`check()` is the scheduled run of the same work: it also tests partial windows
and the realised performance of every model on late labels.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cxops.canary.events import log_root
from cxops.monitoring.client import DriftMonitorClient
from cxops.monitoring.errors import MonitoringError
from cxops.monitoring.feed import LogFeed
from cxops.monitoring.local import monitoring_dir
from cxops.monitoring.service import AlertRecord, MonitoringService
from cxops.specs import list_specs, load_spec
from cxops.telemetry import record_drift

__all__ = ["MonitorLoop", "TickSummary", "watched_models"]


def watched_models(service: MonitoringService) -> list[str]:
    """Models with a drift detector in their spec and a version registered."""
    settings = service.gov.settings
    return [m for m in list_specs(settings) if load_spec(m, settings).monitoring.detector != "none"]


@dataclass
class TickSummary:
    events_sent: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[AlertRecord] = field(default_factory=list)
    finished_runs: list[Any] = field(default_factory=list)
    registered: list[str] = field(default_factory=list)


class MonitorLoop:
    def __init__(
        self,
        service: MonitoringService,
        client: DriftMonitorClient,
        *,
        models: list[str] | None = None,
        announce: Callable[[str], None] = lambda message: None,
    ) -> None:
        self.service = service
        self.client = client
        self.models = models if models is not None else watched_models(service)
        self.announce = announce
        state = monitoring_dir(service.gov.settings)
        self.feed = LogFeed(log_root(service.gov.settings), state / "feed-offsets.json")
        self._cursor_file = state / "results-cursor.json"
        self._cursor = (
            int(json.loads(self._cursor_file.read_text())["after"]) if self._cursor_file.is_file() else 0
        )
        self._loaded: set[tuple[str, int]] = set()
        self._unloadable: set[tuple[str, int]] = set()
        self._actor = service.monitor()

    def load_detectors(self) -> list[str]:
        """Load the detectors of the versions serving traffic that the monitor does not have yet."""
        loaded = []
        for model in self.models:
            for version in self.service.watched_versions(model):
                key = (model, version)
                if key in self._loaded or key in self._unloadable:
                    continue
                try:
                    bundle = self.service.drift_reference(model, version)
                    self.client.register(model, version, bundle)
                except MonitoringError as exc:
                    if exc.status_code == 503:
                        raise
                    self._unloadable.add(key)
                    self.announce(f"{model}:{version} is not watched: {exc}")
                    continue
                self._loaded.add(key)
                loaded.append(f"{model}:{version}")
                self.announce(f"watching {model}:{version}")
        return loaded

    def tick(self) -> TickSummary:
        summary = TickSummary(registered=self.load_detectors())
        while True:
            events = self.feed.read(self.models)
            if not events:
                break
            self.client.send(events)
            self.feed.commit()
            summary.events_sent += len(events)
        self._collect(self.client.results(after=self._cursor), summary)
        summary.finished_runs = self.service.refresh_runs()
        for run in summary.finished_runs:
            self.announce(
                f"retraining run {run.id} of {run.model} registered version {run.version} (candidate)"
            )
        return summary

    def check(self) -> TickSummary:
        """The scheduled check: a tick, partial windows tested, and performance on late labels."""
        summary = self.tick()
        for model in self.models:
            self.client.evaluate(model)
        self._collect(self.client.results(after=self._cursor), summary)
        for model in list_specs(self.service.gov.settings):
            alert = self.service.check_performance(self._actor, model)
            if alert is not None:
                summary.alerts.append(alert)
                self._announce_alert(alert)
        return summary

    def _collect(self, results: list[dict[str, Any]], summary: TickSummary) -> None:
        for result in results:
            summary.results.append(result)
            record_drift(
                str(result.get("model")),
                str(result.get("version")),
                str(result.get("verdict")),
                len(result.get("drifted_features") or []),
            )
            if result.get("model") in self.models:
                alert = self.service.receive_drift_result(self._actor, result)
                if alert is not None:
                    summary.alerts.append(alert)
                    self._announce_alert(alert)
                else:
                    rows = (result.get("window") or {}).get("rows", "?")
                    self.announce(f"{result['model']}:{result.get('version')} no drift over {rows} requests")
            self._cursor = max(self._cursor, int(result.get("seq", 0)))
            self._cursor_file.write_text(json.dumps({"after": self._cursor}))

    def _announce_alert(self, alert: AlertRecord) -> None:
        run = f" (retraining run {alert.retrain_run_id})" if alert.retrain_run_id else ""
        self.announce(f"alert {alert.id}: {alert.summary} → {alert.action}{run}: {alert.action_reason}")
