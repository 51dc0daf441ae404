"""How strict the automated canary analysis is: sample sizes, the false-alarm budget and each check's limit.

A policy is configuration (a block of a release file), so unknown keys are rejected rather than ignored:
a misspelt limit must not silently fall back to its default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cxops.canary.errors import CanaryInvalidError

__all__ = ["CHECKS_PER_LOOK", "AnalysisPolicy", "DriftLimit", "load_analysis_policy"]

CHECKS_PER_LOOK = 4
"""Checks that can fail a window (error rate, p95 latency, prediction drift, model metric).

The false-alarm budget is split over all four even in windows without outcomes, so that every look of a
canary tests at the same level and the union bound holds whichever checks ran.
"""


class DriftLimit(BaseModel):
    """The largest tolerated shift of the prediction distribution, and how it is measured.

    `psi`: population stability index, sum of (q - p) ln(q / p) over bins or labels (0.1 is commonly read
    as "some shift", 0.25 as "major"). `jensen_shannon`: the Jensen-Shannon distance, base 2, in [0, 1]
    (the square root of the divergence, as `scipy.spatial.distance.jensenshannon` returns it).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    measure: Literal["psi", "jensen_shannon"] = "psi"
    limit: float = Field(default=0.2, gt=0)

    @model_validator(mode="after")
    def _in_range(self) -> DriftLimit:
        if self.measure == "jensen_shannon" and self.limit >= 1:
            raise ValueError(
                f"max_prediction_drift limit {self.limit} can never be exceeded: the Jensen-Shannon "
                "distance (base 2) is at most 1; choose a limit below 1, e.g. 0.1"
            )
        return self


class AnalysisPolicy(BaseModel):
    """Limits a candidate must stay within, compared with the stable version over the same window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_requests: int = Field(default=200, ge=20)
    """Requests per side (and per check: latencies, predictions, outcomes) before a check may decide.

    At least 20, because the tests below rely on large-sample approximations.
    """
    false_alarm_rate: float = Field(default=0.01, gt=0, le=0.2)
    """Chance that a canary as good as stable is rolled back on evidence, over all its checks and looks."""
    max_error_rate_increase: float = Field(default=0.01, ge=0, lt=1)
    """Tolerated absolute rise of the error rate (5xx or transport failure), e.g. 0.01 = one point."""
    max_p95_latency_ratio: float = Field(default=1.25, ge=1)
    """Tolerated candidate / stable ratio of the 95th-percentile latency of successful requests."""
    max_prediction_drift: DriftLimit = DriftLimit()
    bins: int = Field(default=10, ge=2, le=100)
    """Bins for probability predictions, cut at the stable side's quantiles (labels use their categories)."""
    max_metric_drop: float = Field(default=0.02, ge=0, lt=1)
    """Tolerated drop of accuracy (labels) or rise of the Brier score (probabilities) on labelled requests."""
    max_wait_windows: int = Field(default=3, ge=0)
    """Consecutive undecided windows allowed at one traffic step; the next undecided window fails."""

    def alpha_per_test(self, looks: int) -> float:
        """Level of each one-sided test: Bonferroni over `CHECKS_PER_LOOK` checks times `looks` looks."""
        return self.false_alarm_rate / (CHECKS_PER_LOOK * looks)


class _CanaryPolicyFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    analysis: AnalysisPolicy = AnalysisPolicy()


def load_analysis_policy(path: Path) -> AnalysisPolicy:
    """The `analysis` block of a canary policy file (`policies/canary.yaml`), validated."""
    if not path.is_file():
        raise CanaryInvalidError(f"canary policy {path} is missing; restore policies/canary.yaml")
    try:
        return _CanaryPolicyFile.model_validate(yaml.safe_load(path.read_text()) or {}).analysis
    except yaml.YAMLError as error:
        raise CanaryInvalidError(f"canary policy {path} is not valid YAML: {error}") from error
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors(include_url=False)
        )
        raise CanaryInvalidError(f"canary policy {path} is invalid: {problems}") from error
