"""The drift monitor without its HTTP layer: registered detectors, open windows, results, metrics, alerts.

Methods are synchronous. `register` and `test` are the heavy ones (fitting, embedding, testing) and are
meant to run off the event loop, one at a time (`app` gives them one worker thread); `ingest` is cheap.
State on disk, under `state/`:

    detectors/<model>/<version>/   the saved detector, its encoding, monitor.json and registration.json
    results.jsonl                  every result, one JSON line each, `seq` increasing
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cxops_drift.alerts import AlertSender
from cxops_drift.bundle import load_bundle
from cxops_drift.detectors import FittedDetector, fit_detector, load_saved
from cxops_drift.errors import ConflictError, DriftError, InvalidError, NotFoundError
from cxops_drift.evaluation import evaluate_window, iso
from cxops_drift.events import REQUEST_TYPE, CloudEvent
from cxops_drift.metrics import DriftMetrics
from cxops_drift.payload import RequestRows, rows_of_request
from cxops_drift.spec import NAME_PATTERN
from cxops_drift.store import ResultStore
from cxops_drift.windows import Window, WindowBook, WindowKey

__all__ = ["REGISTRATION_FILE", "DriftService", "Registration"]

REGISTRATION_FILE = "registration.json"
log = logging.getLogger("cxops_drift")


@dataclass
class Registration:
    """A loaded detector and where it came from."""

    model: str
    version: str
    bundle: str
    registered_at: str
    order: float
    detector: FittedDetector
    reference_rows: int
    reference_rows_dropped: int

    def record(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "bundle": self.bundle,
            "registered_at": self.registered_at,
            "order": self.order,
            "reference_rows": self.reference_rows,
            "reference_rows_dropped": self.reference_rows_dropped,
        }


def _check_name(kind: str, value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise InvalidError(
            f"{kind} {value!r} is not valid: use letters, digits, '.', '_' or '-' "
            "(e.g. model 'churn', version '7')"
        )
    return value


class DriftService:
    """Everything the monitor holds, for one state directory."""

    def __init__(self, state: Path, *, alert_url: str | None = None, alert_token: str | None = None) -> None:
        self.state = Path(state)
        self.state.mkdir(parents=True, exist_ok=True)
        self.detectors_dir = self.state / "detectors"
        self.store = ResultStore(self.state)
        self.metrics = DriftMetrics()
        self.windows = WindowBook()
        self.registrations: dict[WindowKey, Registration] = {}
        self.alerts = (
            AlertSender(
                alert_url, alert_token, on_outcome=lambda outcome: self.metrics.alerts.labels(outcome).inc()
            )
            if alert_url
            else None
        )
        self.fits = 0  # detectors fitted by this process (a restart reloads, it does not refit)
        self._lock = threading.RLock()

    # --- detectors -------------------------------------------------------------------------------------

    def _publish(self, registration: Registration) -> None:
        key = (registration.model, registration.version)
        with self._lock:
            self.registrations[key] = registration
            self.windows.register(key[0], key[1], registration.detector.spec, registration.order)

    def load_saved(self) -> list[str]:
        """Reload every saved detector (no refit); return the problems of those that could not be loaded."""
        problems: list[str] = []
        for record_path in sorted(self.detectors_dir.glob(f"*/*/{REGISTRATION_FILE}")):
            directory = record_path.parent
            try:
                record = json.loads(record_path.read_text())
                detector = load_saved(directory)
            except (DriftError, OSError, ValueError, KeyError, TypeError) as error:
                problems.append(f"{directory}: {error}")
                log.error("detector in %s not loaded: %s", directory, error)
                continue
            self._publish(Registration(**record, detector=detector))
            log.info(
                "detector loaded: model=%s version=%s (%s)", record["model"], record["version"], detector.name
            )
        return problems

    def register(self, model: Any, version: Any, bundle: Any) -> tuple[bool, dict[str, Any]]:
        """Fit and save the detector of a model version from its bundle.

        Returns (created, description); created is False when the version is already loaded from the same
        bundle. ConflictError when it was loaded from another bundle.
        """
        model, version = _check_name("model", model), _check_name("version", version)
        if not isinstance(bundle, str) or not bundle:
            raise InvalidError("'bundle' must be the absolute path of the version's drift bundle directory")
        path = Path(bundle).expanduser()
        existing = self.registrations.get((model, version))
        if existing is not None:
            if Path(existing.bundle) == (path.resolve() if path.exists() else path):
                return False, self.describe((model, version))
            raise ConflictError(
                f"model '{model}' version '{version}' is already watched with the bundle {existing.bundle}; "
                "a version's reference does not change: register the new bundle as a new version"
            )
        loaded = load_bundle(path)
        if loaded.spec.model != model:
            raise InvalidError(
                f"the bundle {loaded.directory} is for model '{loaded.spec.model}', not '{model}'; "
                "pass the bundle of this model's version"
            )
        directory = self.detectors_dir / model / version
        started = time.perf_counter()
        detector = fit_detector(loaded, directory)
        self.fits += 1
        now = datetime.now(UTC)
        registration = Registration(
            model=model,
            version=version,
            bundle=str(loaded.directory),
            registered_at=iso(now) or "",
            order=now.timestamp(),
            detector=detector,
            reference_rows=len(loaded.reference),
            reference_rows_dropped=loaded.dropped,
        )
        temporary = directory / f".{REGISTRATION_FILE}.tmp"
        temporary.write_text(json.dumps(registration.record(), indent=2) + "\n")
        os.replace(temporary, directory / REGISTRATION_FILE)  # written last: marks a complete save
        self._publish(registration)
        log.info(
            "detector fitted: model=%s version=%s detector=%s reference_rows=%d dropped=%d seconds=%.2f",
            model,
            version,
            detector.name,
            len(loaded.reference),
            loaded.dropped,
            time.perf_counter() - started,
        )
        return True, self.describe((model, version))

    def describe(self, key: WindowKey) -> dict[str, Any]:
        registration = self.registrations[key]
        spec = registration.detector.spec
        return {
            "model": key[0],
            "version": key[1],
            "kind": spec.kind,
            "detector": spec.detector,
            "detector_class": registration.detector.name,
            "window_rows": self.windows.open_rows(key),
            "window_size": spec.window_size,
            "min_window": spec.min_window,
            "windows_tested": self.store.tested[key],
            "bundle": registration.bundle,
            "registered_at": registration.registered_at,
        }

    def list_detectors(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self.describe(key) for key in self.windows.ordered()]

    # --- events and windows ----------------------------------------------------------------------------

    def _plan(self, event: CloudEvent) -> tuple[WindowKey, RequestRows] | str:
        """Where an event's rows go, or why it is ignored."""
        if event.type != REQUEST_TYPE:
            return "not_request"
        key = self.windows.route(event.model, event.version)
        if key is None:
            known = event.model is not None and self.windows.route(event.model, None) is not None
            return "unknown_version" if known else "unknown_model"
        spec = self.registrations[key].detector.spec
        try:
            return key, rows_of_request(spec, event.data_json())
        except InvalidError as error:
            raise InvalidError(f"event '{event.id}': {error}") from error

    def ingest(self, events: list[CloudEvent]) -> tuple[int, int, list[Window]]:
        """Add the rows of `events` to their windows: (rows accepted, events ignored, windows now full).

        All events are read before any is applied, so a malformed event (InvalidError) changes nothing.
        """
        with self._lock:
            plans = []
            ignored = 0
            for event in events:
                plan = self._plan(event)
                if isinstance(plan, str):
                    ignored += 1
                    self.metrics.events.labels(plan).inc()
                    continue
                plans.append((plan, event.time))
            accepted = 0
            closed: list[Window] = []
            for (key, request), at in plans:
                self.metrics.events.labels("used").inc()
                if request.id_only:
                    self.windows.add_id_only(key, at)
                closed.extend(self.windows.add_rows(key, request.rows, at))
                accepted += len(request.rows)
                self.metrics.window_rows.labels(*key).set(self.windows.open_rows(key))
            return accepted, ignored, closed

    def take_partial(self, model: str | None = None) -> list[Window]:
        """Close the open windows (of `model`, or all) that hold at least `min_window` rows."""
        with self._lock:
            if model is not None and self.windows.route(model, None) is None:
                raise NotFoundError(
                    f"model '{model}' has no detector; register a version with POST /v1/detectors first"
                )
            windows = self.windows.take_partial(model)
            for window in windows:
                self.metrics.window_rows.labels(window.model, window.version).set(0)
            return windows

    def test(self, window: Window) -> dict[str, Any]:
        """Test a closed window, store its result, update the metrics and send the alert. Heavy."""
        registration = self.registrations[(window.model, window.version)]
        result = evaluate_window(window, registration.detector)
        # The window's place among its version's tested windows: consecutive drift is counted by it.
        result["window"]["index"] = self.store.tested[(window.model, window.version)]
        result = self.store.append(result)
        self.metrics.observe_result(result)
        log.info(
            "window tested: model=%s version=%s seq=%d verdict=%s rows=%d invalid=%d drifted=%s seconds=%.3f",
            result["model"],
            result["version"],
            result["seq"],
            result["verdict"],
            result["window"]["rows"],
            result["window"]["invalid_rows"],
            ",".join(result["drifted_features"]) or "-",
            result["seconds"],
        )
        if self.alerts is not None:
            self.alerts.notify(result)
        return result
