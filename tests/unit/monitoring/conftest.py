"""Fixtures of the monitoring tests: a launcher that records the retrainings it is asked to start, model
versions placed in a stage, and drift monitor results shaped as the service sends them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa

from cxops.monitoring.launchers import LaunchedRun
from cxops.registry import Registry, Stage

AddVersion = Callable[..., int]
DriftResult = Callable[..., dict[str, Any]]


@dataclass
class RecordingLauncher:
    """Starts nothing: remembers each `launch` call and answers like a local launcher would."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    error: Exception | None = None

    def launch(
        self, model: str, *, trigger: str, run_name: str, parameters: dict[str, object]
    ) -> LaunchedRun:
        self.calls.append(
            {"model": model, "trigger": trigger, "run_name": run_name, "parameters": parameters}
        )
        if self.error is not None:
            raise self.error
        pid = str(4241 + len(self.calls))
        return LaunchedRun("local", pid, run_name, None, f"pid {pid}, log /logs/{run_name}.log")


@pytest.fixture
def recording_launcher() -> RecordingLauncher:
    return RecordingLauncher()


def _add_version(
    registry: Registry,
    model: str = "churn",
    stage: Stage = Stage.CANDIDATE,
    *,
    artifacts: dict[str, str] | None = None,
    lineage: dict[str, Any] | None = None,
) -> int:
    record = registry.register_version(
        model,
        metrics={},
        artifacts=artifacts or {},
        params={},
        lineage=lineage or {},
        owner="o",
        team="t",
        created_by="pipeline-bot",
        dataset_version=None,
    )
    if stage != Stage.CANDIDATE:  # placed underneath governance: these tests are not about the gates
        with registry.engine.begin() as connection:
            connection.execute(
                sa.text(
                    "UPDATE model_versions SET stage = :stage WHERE model = :model AND version = :version"
                ),
                {"stage": stage.value, "model": model, "version": record.version},
            )
    return record.version


@pytest.fixture
def add_version() -> AddVersion:
    """`add_version(registry, "churn", Stage.PRODUCTION, artifacts=..., lineage=...)`: the new version."""
    return _add_version


def _drift_result(
    model: str = "churn",
    version: int | str = 1,
    *,
    verdict: str = "drift",
    drifted: list[str] | None = None,
    index: int | None = None,
    reasons: list[str] | None = None,
    seq: int = 1,
) -> dict[str, Any]:
    drifted = ["tenure", "MonthlyCharges", "Contract"] if drifted is None else drifted
    window: dict[str, Any] = {
        "start": "2026-12-07T16:00:00Z",
        "end": "2026-12-07T17:00:00Z",
        "rows": 300,
        "invalid_rows": 2,
        "id_only_requests": 5,
    }
    if index is not None:
        window["index"] = index
    return {
        "seq": seq,
        "id": str(uuid.uuid4()),
        "model": model,
        "version": str(version),
        "created_at": "2026-12-07T17:00:00Z",
        "verdict": verdict,
        "window": window,
        "detector": "TabularDrift",
        "p_value": 0.05,
        "threshold": 0.00227,
        "features": [
            {"name": name, "test": "ks", "statistic": 0.31, "p_value": 1.2e-9, "drift": True}
            for name in drifted
        ],
        "drifted_features": drifted if verdict == "drift" else [],
        "quality": {
            "failed": verdict == "data_quality",
            "reasons": reasons or [],
            "invalid_fraction": 0.0067,
            "violations": {},
            "null_fraction": {},
        },
    }


@pytest.fixture
def drift_result() -> DriftResult:
    """`drift_result("churn", 1, verdict=..., drifted=[...], index=...)`: a fresh result (its own id)."""
    return _drift_result
