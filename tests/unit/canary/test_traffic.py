"""Canary records and the serving platform move together: with the Kubernetes backend each change is
handed to KServe inside the record's transaction, and a refusal leaves the record as it was."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cxops.canary.errors import (
    CanaryBackendError,
    CanaryConflictError,
    CanaryInvalidError,
    CanaryModeError,
)
from cxops.canary.kubernetes import parse_status
from cxops.canary.service import CanaryService
from cxops.canary.traffic import GatewayTraffic, KServeTraffic, traffic_backend
from cxops.config import Settings
from cxops.governance.service import Governance
from cxops.registry import Stage


class RecordingKServe:
    """Stands in for `KServeCanaryBackend` (its requests are pinned in test_kubernetes.py)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.refuse: str | None = None

    def __getattr__(self, name: str) -> Callable[..., None]:
        def call(*args: Any) -> None:
            if self.refuse == name:
                raise CanaryConflictError(f"the API server refused {name}")
            self.calls.append((name, *args))

        return call


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database_url=database_url,
        canary_backend="kubernetes",
        image_registry="registry.example/cx/",
    )


@pytest.fixture
def gov(settings: Settings) -> Iterator[Governance]:
    with Governance.from_settings(settings) as opened:
        yield opened


@pytest.fixture
def kserve() -> RecordingKServe:
    return RecordingKServe()


@pytest.fixture
def canaries(gov: Governance, settings: Settings, kserve: RecordingKServe) -> CanaryService:
    """Canary records whose changes go to the recording KServe backend."""
    return CanaryService(gov, KServeTraffic(settings, kserve))  # type: ignore[arg-type]


def _versions(gov: Governance, place_version: Callable[..., int]) -> tuple[int, int]:
    stable, candidate = (
        place_version(gov.registry, Stage.PRODUCTION),
        place_version(gov.registry, Stage.STAGING),
    )
    gov.registry.set_bento("churn", candidate, "cxops-churn:abc123")
    return stable, candidate


def test_the_backend_follows_the_settings(settings: Settings) -> None:
    assert isinstance(traffic_backend(settings), KServeTraffic)
    local = settings.model_copy(update={"canary_backend": "local"})
    assert isinstance(traffic_backend(local), GatewayTraffic)


def test_each_change_reaches_kserve(
    place_version: Callable[..., int], gov: Governance, canaries: CanaryService, kserve: RecordingKServe
) -> None:
    _, candidate = _versions(gov, place_version)
    sam = gov.actor("sam")

    canaries.start(sam, "churn", candidate, steps=[10, 50])
    canaries.set_percent(sam, "churn", 50)
    canaries.rollback(sam, "churn", reason="latency")

    assert kserve.calls == [
        ("start", "churn", "registry.example/cx/cxops-churn:abc123", 10),
        ("set_percent", "churn", 50),
        ("rollback", "churn"),
    ]


def test_a_refusal_leaves_the_record_unchanged(
    place_version: Callable[..., int], gov: Governance, canaries: CanaryService, kserve: RecordingKServe
) -> None:
    _, candidate = _versions(gov, place_version)
    sam = gov.actor("sam")

    kserve.refuse = "start"
    with pytest.raises(CanaryConflictError, match="refused start"):
        canaries.start(sam, "churn", candidate)
    assert canaries.active("churn") is None and gov.registry.audit_events(action="deployment.") == []

    kserve.refuse = "set_percent"
    canaries.start(sam, "churn", candidate, steps=[10, 50])
    with pytest.raises(CanaryConflictError):
        canaries.set_percent(sam, "churn", 50)
    assert canaries.active("churn").percent == 10.0


def test_what_kserve_cannot_do_is_refused_clearly(
    place_version: Callable[..., int], gov: Governance, canaries: CanaryService
) -> None:
    stable, candidate = _versions(gov, place_version)
    sam = gov.actor("sam")
    with pytest.raises(CanaryModeError, match="cannot mirror"):
        canaries.start(sam, "churn", candidate, shadow=True)
    with pytest.raises(CanaryInvalidError, match="whole percentages"):
        canaries.start(sam, "churn", candidate, steps=[2.5, 50])
    bare = place_version(gov.registry, Stage.STAGING)
    with pytest.raises(CanaryInvalidError, match="has no bento"):
        canaries.start(sam, "churn", bare)
    assert canaries.active("churn") is None


def test_a_promotion_kserve_refused_can_be_finished_later(
    place_version: Callable[..., int], gov: Governance, canaries: CanaryService, kserve: RecordingKServe
) -> None:
    _, candidate = _versions(gov, place_version)
    admin = gov.actor("root-admin")  # overrides the gates, which bare test versions cannot pass
    canaries.start(admin, "churn", candidate)

    kserve.refuse = "promote"
    with pytest.raises(CanaryConflictError):
        canaries.promote(admin, "churn", reason="done", override=True)
    # Production moved (its own transaction), the canary did not: it is still there to finish.
    assert gov.registry.get_version("churn", candidate).stage is Stage.PRODUCTION
    assert canaries.active("churn") is not None

    kserve.refuse = None
    record, transition = canaries.promote(admin, "churn", reason="done")
    assert record.status == "promoted" and transition.version == candidate
    assert kserve.calls[-1] == ("promote", "churn")
    assert [t.to_stage for t in gov.history(admin, "churn")].count("production") == 1


def test_status_reports_what_kserve_splits(settings: Settings) -> None:
    fixtures = Path(__file__).parent / "fixtures"
    isvc = json.loads((fixtures / "isvc_serverless_canary.json").read_text())

    class Reading:
        def status(self, model: str) -> Any:
            return parse_status(isvc)

    class Unreachable:
        def status(self, model: str) -> Any:
            raise CanaryBackendError("cannot reach the Kubernetes API at https://k8s:6443", status_code=503)

    line = KServeTraffic(settings, Reading()).observed("churn")  # type: ignore[arg-type]
    assert line == (
        "KServe (Serverless): 10% → churn-predictor-00002 (candidate), 90% → churn-predictor-00001; ready"
    )
    isvc["metadata"]["generation"] = isvc["status"]["observedGeneration"] + 1
    assert KServeTraffic(settings, Reading()).observed("churn").endswith("; ready, not settled yet")  # type: ignore[arg-type]
    unreachable = KServeTraffic(settings, Unreachable()).observed("churn")  # type: ignore[arg-type]
    assert unreachable == "KServe: cannot reach the Kubernetes API at https://k8s:6443"
    assert GatewayTraffic().observed("churn") is None
