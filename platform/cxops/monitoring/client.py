"""A client of the drift monitor service's HTTP API (`cxops_drift`, docs/drift-monitor.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from cxops.monitoring.errors import MonitoringInvalidError, MonitoringNotFoundError, MonitorUnavailableError

__all__ = ["BATCH_CONTENT_TYPE", "DriftMonitorClient"]

BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"


class DriftMonitorClient:
    def __init__(self, base_url: str, *, timeout_s: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> DriftMonitorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise MonitorUnavailableError(
                f"the drift monitor at {self.base_url} cannot be reached ({exc.__class__.__name__}: {exc}); "
                "start it with `cxops monitor serve` or set CXOPS_MONITOR_URL"
            ) from exc
        if response.status_code >= 400:
            try:
                message = response.json().get("error") or response.text
            except (json.JSONDecodeError, AttributeError):
                message = response.text
            error = {
                404: MonitoringNotFoundError,
                400: MonitoringInvalidError,
                422: MonitoringInvalidError,
            }.get(response.status_code, MonitorUnavailableError)
            raise error(f"drift monitor {method} {path}: {response.status_code} {message}")
        return response.json() if response.content else None

    def healthy(self) -> bool:
        try:
            return self._http.get("/healthz", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def register(self, model: str, version: int, bundle: Path) -> dict[str, Any]:
        """Load (fit once, then reload) the detector of `model:version` from its drift reference."""
        return self._call(
            "POST", "/v1/detectors", json={"model": model, "version": str(version), "bundle": str(bundle)}
        )

    def detectors(self) -> list[dict[str, Any]]:
        body = self._call("GET", "/v1/detectors")
        return body.get("detectors", body) if isinstance(body, dict) else body

    def send(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        """Send inference events in CloudEvents batch mode."""
        return self._call(
            "POST",
            "/",
            content=json.dumps(events, separators=(",", ":")).encode(),
            headers={"content-type": BATCH_CONTENT_TYPE},
        )

    def evaluate(self, model: str | None = None) -> list[dict[str, Any]]:
        """Test every partial window big enough now (the scheduled check)."""
        body = self._call("POST", "/v1/evaluate", json={"model": model} if model else {})
        return body.get("results", []) if isinstance(body, dict) else body

    def results(
        self, *, model: str | None = None, version: int | None = None, after: int = 0, limit: int = 200
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"after": after, "limit": limit}
        if model:
            params["model"] = model
        if version is not None:
            params["version"] = str(version)
        return self._call("GET", "/v1/results", params=params).get("results", [])

    def all_results(self, *, model: str | None = None, version: int | None = None) -> list[dict[str, Any]]:
        """Every result (of one model or version), oldest first, page by page."""
        out: list[dict[str, Any]] = []
        while True:
            page = self.results(model=model, version=version, after=out[-1]["seq"] if out else 0, limit=1000)
            out += page
            if len(page) < 1000:
                return out
