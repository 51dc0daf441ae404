"""The automated canary: a good candidate climbs the steps and is promoted (gates permitting); an erroring,
slower or shifted one is rolled back within one window, with the evidence kept."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cxops.canary.controller import CanaryController
from cxops.canary.policy import AnalysisPolicy
from cxops.canary.service import CanaryService
from cxops.config import Settings
from cxops.governance.service import Governance
from cxops.registry import Stage

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
INTERVAL = 60


class Traffic:
    """Request records of both versions, drawn per window: `candidate` holds the faults to inject."""

    def __init__(self, stable: int, candidate: int, **faults: float) -> None:
        self.stable, self.candidate, self.faults = str(stable), str(candidate), faults
        self.rng = np.random.default_rng(0)

    def __call__(self, model: str, since: datetime) -> list[dict[str, Any]]:
        records = []
        for side in (self.stable, self.candidate):
            bad = side == self.candidate
            for i in range(600):
                error = bad and self.rng.random() < self.faults.get("errors", 0.0)
                records.append(
                    {
                        "version": side,
                        "status": 500 if error else 200,
                        "latency_ms": float(
                            self.rng.gamma(4, 5) * (self.faults.get("slower", 1.0) if bad else 1)
                        ),
                        "prediction": float(
                            np.clip(self.rng.beta(2, 5) + (self.faults.get("shift", 0) if bad else 0), 0, 1)
                        ),
                        "fallback": False,
                        "timestamp": since + timedelta(seconds=i * INTERVAL / 600),
                    }
                )
        return records


@pytest.fixture
def gov(tmp_path: Path, database_url: str) -> Iterator[Governance]:
    with Governance.from_settings(Settings(home=tmp_path / "home", database_url=database_url)) as opened:
        yield opened


def _run(gov: Governance, traffic: Traffic, windows: int) -> list[str]:
    now = [START]
    gov.clock = lambda: now[0]
    canaries = CanaryService(gov)
    canaries.start(
        gov.actor("sam"),
        "churn",
        int(traffic.candidate),
        steps=[10, 25, 50, 100],
        interval_s=INTERVAL,
        auto=True,
    )
    controller = CanaryController(canaries, AnalysisPolicy(min_requests=200), records=traffic)
    actions = []
    assert controller.tick("churn") is None  # the first window has not ended yet
    for _ in range(windows):
        now[0] += timedelta(seconds=INTERVAL)
        decision = controller.tick("churn")
        if decision is None:
            break
        actions.append(decision.action)
    return actions


@pytest.mark.parametrize("fault", [{"errors": 0.06}, {"slower": 2.0}, {"shift": 0.2}])
def test_a_faulty_candidate_is_rolled_back_in_the_first_window(
    place_version: Callable[..., int], gov: Governance, fault: dict[str, float]
) -> None:
    stable, candidate = (
        place_version(gov.registry, Stage.PRODUCTION),
        place_version(gov.registry, Stage.STAGING),
    )
    assert _run(gov, Traffic(stable, candidate, **fault), windows=5) == ["rolled_back"]
    [canary] = CanaryService(gov).history(gov.actor("sam"), "churn")
    assert canary.status == "rolled_back" and canary.outcome.startswith("automated analysis")
    [evidence] = canary.evidence
    assert evidence["verdict"] == "fail" and evidence["percent"] == 10.0
    assert gov.registry.get_version("churn", stable).stage is Stage.PRODUCTION
    event = gov.registry.audit_events(limit=1)[0]
    assert (event.action, event.actor) == ("deployment.rolled_back", "canary-controller")


def test_a_good_candidate_climbs_every_step_then_meets_the_gates(
    place_version: Callable[..., int], gov: Governance
) -> None:
    stable, candidate = (
        place_version(gov.registry, Stage.PRODUCTION),
        place_version(gov.registry, Stage.STAGING),
    )
    actions = _run(gov, Traffic(stable, candidate), windows=4)
    # Bare test versions pass no promotion gate: the controller keeps the canary at its last split.
    assert actions[:3] == ["advanced", "advanced", "promotion_blocked"]
    canary = CanaryService(gov).active("churn")
    assert canary is not None and canary.percent == 50.0
    assert [e["verdict"] for e in canary.evidence][:3] == ["pass", "pass", "pass"]
    assert [e["percent"] for e in canary.evidence][:3] == [10.0, 25.0, 50.0]


def test_windows_without_traffic_neither_decide_nor_spend_the_deadline(
    place_version: Callable[..., int], gov: Governance
) -> None:
    stable, candidate = (
        place_version(gov.registry, Stage.PRODUCTION),
        place_version(gov.registry, Stage.STAGING),
    )
    traffic = Traffic(stable, candidate)
    quiet = [True]
    now = [START]
    gov.clock = lambda: now[0]
    canaries = CanaryService(gov)
    canaries.start(gov.actor("sam"), "churn", candidate, steps=[10, 50], interval_s=INTERVAL, auto=True)
    controller = CanaryController(
        canaries,
        AnalysisPolicy(min_requests=200, max_wait_windows=1),
        records=lambda model, since: [] if quiet[0] else traffic(model, since),
    )
    for _ in range(5):  # more quiet windows than the deadline allows undecided ones
        now[0] += timedelta(seconds=INTERVAL)
        assert controller.tick("churn").verdict == "idle"
    [idle] = canaries.active("churn").evidence
    assert idle["windows"] == 5 and idle["window_start"].startswith(START.isoformat()[:19])
    quiet[0] = False
    now[0] += timedelta(seconds=INTERVAL)
    assert controller.tick("churn").action == "advanced"
    assert [e["verdict"] for e in canaries.active("churn").evidence] == ["idle", "pass"]


def test_a_blocked_promotion_is_retried_without_spending_more_looks(
    place_version: Callable[..., int], gov: Governance
) -> None:
    stable, candidate = (
        place_version(gov.registry, Stage.PRODUCTION),
        place_version(gov.registry, Stage.STAGING),
    )
    traffic = Traffic(stable, candidate)
    reads: list[datetime] = []
    now = [START]
    gov.clock = lambda: now[0]
    canaries = CanaryService(gov)
    canaries.start(gov.actor("sam"), "churn", candidate, steps=[50, 100], interval_s=INTERVAL, auto=True)
    controller = CanaryController(
        canaries,
        AnalysisPolicy(min_requests=200),
        records=lambda model, since: reads.append(since) or traffic(model, since),
    )
    assert controller.planned_looks(canaries.active("churn")) == 4  # one split step, 1 + 3 waits
    actions = []
    for _ in range(4):
        now[0] += timedelta(seconds=INTERVAL)
        actions.append(controller.tick("churn").action)
    assert actions == ["promotion_blocked"] * 4  # bare test versions pass no gate
    assert len(reads) == 1  # the one planned look at 50 %; then only the gates are asked again
    evidence = canaries.active("churn").evidence
    assert [e["verdict"] for e in evidence] == ["pass", "promotion_blocked"]
    assert evidence[-1]["attempts"] == 4 and "cannot move to production" in evidence[-1]["explanation"]
    assert len(gov.registry.audit_events(action="stage.blocked")) == 4  # one refusal per window, no more
