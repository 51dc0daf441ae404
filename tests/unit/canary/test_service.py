"""Canary records: start from staging against production, move, roll back, promote through governance; one
active canary per model; every change authorised and audited, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cxops.canary.errors import CanaryConflictError, CanaryInvalidError, CanaryNotFoundError
from cxops.canary.service import CanaryService
from cxops.config import Settings
from cxops.governance.errors import GateFailedError, PermissionDeniedError
from cxops.governance.service import Governance
from cxops.registry import Stage


@pytest.fixture
def gov(tmp_path: Path, database_url: str) -> Iterator[Governance]:
    with Governance.from_settings(Settings(home=tmp_path / "home", database_url=database_url)) as opened:
        opened.clock = lambda: datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
        yield opened


@pytest.fixture
def canaries(gov: Governance) -> CanaryService:
    return CanaryService(gov)


def test_a_canary_starts_from_staging_against_production(
    place_version: Callable[..., int], gov: Governance, canaries: CanaryService
) -> None:
    stable, candidate = (
        place_version(gov.registry, Stage.PRODUCTION),
        place_version(gov.registry, Stage.STAGING),
    )
    record = canaries.start(gov.actor("sam"), "churn", candidate, steps=[10, 50], interval_s=60, auto=True)
    assert (record.stable_version, record.candidate_version, record.percent) == (stable, candidate, 10.0)
    assert record.steps == [10.0, 50.0, 100.0] and record.status == "running"
    [event] = gov.registry.audit_events(action="deployment.")
    assert event.action == "deployment.canary_started" and event.payload["deployment_id"] == "churn-canary-1"
    assert canaries.status(gov.actor("triage-service")) == [record]


def test_only_staging_versions_and_only_with_a_production_version(
    place_version: Callable[..., int], gov: Governance, canaries: CanaryService
) -> None:
    candidate = place_version(gov.registry, Stage.STAGING)
    with pytest.raises(CanaryConflictError, match="no production version"):
        canaries.start(gov.actor("sam"), "churn", candidate)
    place_version(gov.registry, Stage.PRODUCTION)
    fresh = place_version(gov.registry, Stage.CANDIDATE)
    with pytest.raises(CanaryConflictError, match="starts from a version in staging"):
        canaries.start(gov.actor("sam"), "churn", fresh)
    with pytest.raises(CanaryInvalidError, match="must rise"):
        canaries.start(gov.actor("sam"), "churn", candidate, steps=[50, 10])


def test_one_active_canary_per_model(
    place_version: Callable[..., int], gov: Governance, canaries: CanaryService
) -> None:
    place_version(gov.registry, Stage.PRODUCTION)
    first, second = place_version(gov.registry, Stage.STAGING), place_version(gov.registry, Stage.STAGING)
    canaries.start(gov.actor("sam"), "churn", first)
    with pytest.raises(CanaryConflictError, match="already has a canary"):
        canaries.start(gov.actor("sam"), "churn", second)


def test_concurrent_starts_leave_one_canary(
    place_version: Callable[..., int], gov: Governance, canaries: CanaryService
) -> None:
    place_version(gov.registry, Stage.PRODUCTION)
    versions = [place_version(gov.registry, Stage.STAGING) for _ in range(3)]
    barrier, outcomes = threading.Barrier(3), []

    def start(version: int) -> None:
        barrier.wait()
        try:
            canaries.start(gov.actor("sam"), "churn", version)
            outcomes.append("started")
        except CanaryConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=start, args=(v,)) for v in versions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "conflict", "started"]
    assert len(canaries.status(gov.actor("sam"), "churn")) == 1


def test_moving_and_rolling_back(
    place_version: Callable[..., int], gov: Governance, canaries: CanaryService
) -> None:
    stable = place_version(gov.registry, Stage.PRODUCTION)
    candidate = place_version(gov.registry, Stage.STAGING)
    sam = gov.actor("sam")
    canaries.start(sam, "churn", candidate)
    moved = canaries.set_percent(sam, "churn", 30, reason="looks fine")
    assert (moved.percent, moved.step) == (30.0, 2)  # the next planned step above 30 % is 50 %
    with pytest.raises(CanaryInvalidError, match="between 0 and 100"):
        canaries.set_percent(sam, "churn", 130)
    evidence = {"verdict": "fail", "checks": [{"name": "error_rate", "verdict": "fail"}]}
    ended = canaries.rollback(sam, "churn", reason="error rate up", evidence=evidence)
    assert (ended.status, ended.percent, ended.evidence) == ("rolled_back", 0.0, [evidence])
    assert gov.registry.get_version("churn", stable).stage is Stage.PRODUCTION
    assert canaries.active("churn") is None
    event = gov.registry.audit_events(limit=1)[0]
    assert event.action == "deployment.rolled_back" and event.payload["evidence"] == evidence
    with pytest.raises(CanaryNotFoundError):
        canaries.set_percent(sam, "churn", 10)


def test_promotion_goes_through_the_production_gates(
    place_version: Callable[..., int], gov: Governance, canaries: CanaryService
) -> None:
    place_version(gov.registry, Stage.PRODUCTION)
    candidate = place_version(gov.registry, Stage.STAGING)
    sam = gov.actor("sam")
    canaries.start(sam, "churn", candidate)
    with pytest.raises(GateFailedError):  # these bare versions pass no gate
        canaries.promote(sam, "churn", reason="all steps passed")
    assert canaries.active("churn") is not None  # a refused promotion leaves the canary running
    record, transition = canaries.promote(gov.actor("root-admin"), "churn", reason="forced", override=True)
    assert (record.status, record.percent) == ("promoted", 100.0)
    assert transition.override and transition.to_stage == "production"
    assert gov.production_version("churn").version == candidate
    assert [e.action for e in gov.registry.audit_events(limit=2)] == [
        "deployment.promoted",
        "stage.overridden",
    ]


def test_only_roles_with_deployments_manage_change_canaries(
    place_version: Callable[..., int], gov: Governance, canaries: CanaryService
) -> None:
    place_version(gov.registry, Stage.PRODUCTION)
    candidate = place_version(gov.registry, Stage.STAGING)
    before = gov.registry.audit_events(limit=100)
    for user in ("maya", "dana", "triage-service"):
        with pytest.raises(PermissionDeniedError, match="deployments.manage"):
            canaries.start(gov.actor(user), "churn", candidate)
    assert gov.registry.audit_events(limit=100) == before


def _serve_in_turn(gov: Governance, place_version: Callable[..., int]) -> tuple[int, int]:
    """Two versions that each went to production through governance (the second replacing the first)."""
    admin = gov.actor("root-admin")
    first, second = (place_version(gov.registry, Stage.STAGING) for _ in range(2))
    for version in (first, second):
        gov.promote(admin, "churn", version, "production", reason="test release", override=True)
    return first, second


def test_rolling_production_back_to_a_former_version(
    place_version: Callable[..., int], gov: Governance, canaries: CanaryService
) -> None:
    first, second = _serve_in_turn(gov, place_version)
    candidate = place_version(gov.registry, Stage.STAGING)
    canaries.start(gov.actor("sam"), "churn", candidate)

    ended, transition = canaries.roll_back_to(gov.actor("sam"), "churn", first, reason="complaints since v2")

    assert ended is not None and ended.status == "rolled_back"
    assert transition is not None and (transition.version, transition.to_stage) == (first, "production")
    assert gov.production_version("churn").version == first
    assert gov.registry.get_version("churn", second).stage is Stage.ARCHIVED
    assert gov.registry.get_version("churn", candidate).stage is Stage.STAGING
    actions = [(e.action, e.version) for e in gov.registry.audit_events(limit=3)]
    assert actions == [
        ("stage.rolled_back", first),
        ("stage.changed", second),
        ("deployment.rolled_back", candidate),
    ]
    # Asking again changes nothing more.
    with pytest.raises(CanaryConflictError, match="nothing to roll back"):
        canaries.roll_back_to(gov.actor("sam"), "churn", first, reason="again")


def test_rolling_back_to_a_version_that_never_served_is_refused_before_anything_changes(
    place_version: Callable[..., int], gov: Governance, canaries: CanaryService
) -> None:
    _serve_in_turn(gov, place_version)
    candidate = place_version(gov.registry, Stage.STAGING)
    canaries.start(gov.actor("sam"), "churn", candidate)
    with pytest.raises(CanaryInvalidError, match="never been in production"):
        canaries.roll_back_to(gov.actor("sam"), "churn", candidate, reason="wrong number")
    assert canaries.active("churn") is not None
    with pytest.raises(PermissionDeniedError):
        canaries.roll_back_to(gov.actor("maya"), "churn", 1, reason="not an SRE")
