"""Automated canary analysis: compare a candidate model version with the stable one over the same window.

At each traffic step a controller calls `analyse` on what both versions answered in one time window and
gets `pass` (move on), `fail` (roll back) or `wait` (analyse another window). Four checks run:

- error rate (5xx or transport failure): Farrington-Manning score test of H1 "candidate rate > stable rate
  + `max_error_rate_increase`". The score test uses the rates re-estimated under the null, so zero errors
  on both sides gives a positive variance and a p-value near 1 instead of a division by zero.
- p95 latency of successful requests: the ratio candidate / stable, with an interval on the log scale from
  order-statistic (spacing) standard errors of each quantile. Distribution-free and deterministic: the
  same window always gives the same evidence. Failed requests are left out because fast failures would
  make a broken version look quick; they count in the error rate instead.
- prediction distribution: PSI (bins at the stable side's quantiles for probabilities, the categories
  for labels; empty bins floored at 1e-4) or the Jensen-Shannon distance. Drift is measured by a point
  estimate, whose small-sample bias could alone cross a limit, so a fail also needs a chi-square test of
  homogeneity on the same bins to reject at the per-test level.
- model metric, when both sides have at least `min_requests` labelled requests: accuracy for labels;
  for probabilities the Brier score, because it is a per-request mean (a plain two-sample test applies,
  where AUC needs DeLong variances), it is defined when a window holds one class only (AUC is not), and as
  a proper score it punishes lost calibration as well as lost ranking. Accuracy is tested with the same
  score test as errors (on the miss rate), the Brier score with a Welch z-test.

Each check passes when its point estimate is within the limit; fails when the one-sided test says the
limit is exceeded at level alpha; and waits when the estimate is beyond the limit without significance
(the interval straddles the limit: more data will tell) or either side has fewer than `min_requests`.
The canary fails if any check fails, waits if any waits, and passes otherwise.

False alarms: `false_alarm_rate` (alpha) is split by Bonferroni over the four checks and the `looks`
analyses the canary plans (all steps and windows together): each test runs at alpha / (4 x looks). By the
union bound a canary as good as stable is failed on evidence with probability at most alpha, whether the
windows are disjoint or cumulative. Bonferroni is conservative, but it needs no independence between
checks or looks and no schedule fixed in advance beyond the number of looks.

Undecided canaries fail: after `max_wait_windows` consecutive waits at a step, the next undecided window
fails with a `decision_deadline` check. Rolling back is cheap and reversible (stable still serves), while
promoting a version that could not be shown to be within limits exposes more customers to it; a canary
that keeps waiting has too little traffic or sits on a limit, and either calls for a person. These
deadline failures are outside the alpha budget and say so in their explanation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon

from cxops.canary.errors import CanaryInvalidError
from cxops.canary.policy import AnalysisPolicy

__all__ = [
    "CHECK_NAMES",
    "Analysis",
    "AnalysisInputError",
    "CheckResult",
    "MarginTest",
    "RequestRecord",
    "Verdict",
    "WindowStats",
    "analyse",
    "margin_score_test",
    "psi",
]

Verdict = Literal["pass", "fail", "wait"]
CHECK_NAMES = ("error_rate", "p95_latency", "prediction_drift", "model_metric")
"""The statistical checks, in report order; `decision_deadline` is added when a wait runs out."""

_PSI_EPSILON = 1e-4
"""Floor for an empty bin's share: PSI is infinite without it, and a new label still scores high."""
_MIN_LATENCY_MS = 1e-3
"""Latencies are compared on the log scale; a 0 ms reading (clock resolution) is taken as 1 microsecond."""
_SPACING_Z = 1.96
"""Half-width, in rank standard deviations, of the order statistics that estimate a quantile's spread."""
_TAIL = 1e-12
"""Binomial tail mass left out of the exact p-value's sum (it can shift a p-value by no more than 2e-12)."""
_EXACT_CELLS = 250_000
"""Largest grid of (events, events) outcomes summed for an exact p-value; beyond it counts are large."""
_SPARSE_CELL = 5
"""Categories with fewer pooled requests are merged for the chi-square test, whose approximation needs it."""


class AnalysisInputError(CanaryInvalidError):
    """Windows that cannot be compared, or arguments the analysis cannot accept (422)."""

    status_code = 422


@dataclass(frozen=True)
class RequestRecord:
    """One request as the gateway logged it.

    `status` None (or 0) means a transport failure (no HTTP answer). `prediction` is a probability for
    binary models or a label for text models; `outcome` the true class (0/1, or the label) where feedback
    has arrived. `fallback` marks a retry on stable after the candidate failed (`cxops.canary.events`).
    """

    version: str | None
    status: int | None
    latency_ms: float | None = None
    prediction: float | str | None = None
    outcome: float | str | None = None
    timestamp: datetime | None = None
    fallback: bool = False

    @property
    def is_error(self) -> bool:
        return self.status is None or self.status == 0 or self.status >= 500


@dataclass(frozen=True)
class WindowStats:
    """What one version saw in one window, built from arrays (this constructor) or `from_records`.

    `latency_ms` holds successful requests only; `predictions` the answers of successful requests
    (floats: probabilities; strings: labels); `outcomes`, where given, is aligned with `predictions`
    with NaN (probabilities) or None (labels) for requests whose outcome is not known yet.
    """

    requests: int
    errors: int
    latency_ms: np.ndarray = field(default_factory=lambda: np.empty(0))
    predictions: np.ndarray = field(default_factory=lambda: np.empty(0))
    outcomes: np.ndarray | None = None
    version: str | None = None
    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        who = f"window of version '{self.version}'" if self.version else "window"
        if self.requests < 0 or not 0 <= self.errors <= self.requests:
            raise AnalysisInputError(
                f"{who}: errors ({self.errors}) must lie between 0 and the requests ({self.requests})"
            )
        latency = np.asarray(self.latency_ms, dtype=float).ravel()
        if not np.isfinite(latency).all() or (latency < 0).any():
            raise AnalysisInputError(f"{who}: latencies must be finite and non-negative milliseconds")
        predictions = _as_predictions(self.predictions, who)
        outcomes = None if self.outcomes is None else _as_outcomes(self.outcomes, predictions, who)
        if self.start is not None and self.end is not None and self.end < self.start:
            raise AnalysisInputError(f"{who}: ends ({self.end}) before it starts ({self.start})")
        object.__setattr__(self, "latency_ms", latency)
        object.__setattr__(self, "predictions", predictions)
        object.__setattr__(self, "outcomes", outcomes)

    @classmethod
    def from_records(
        cls,
        records: Iterable[RequestRecord | Mapping[str, Any]],
        version: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> WindowStats:
        """The stats of `version` from gateway records, keeping those in [start, end) when a bound is given.

        Records may be `RequestRecord`s or mappings with the same keys, such as those of
        `cxops.canary.events.request_records`; other keys are ignored. Fallback retries are left out: they
        repeat requests the candidate failed (already counted as its errors) and are not part of the
        random split that makes the two sides comparable.
        """
        requests = errors = 0
        latency: list[float] = []
        predictions: list[Any] = []
        outcomes: list[Any] = []
        for raw in records:
            record = raw if isinstance(raw, RequestRecord) else _record_from_mapping(raw)
            if record.version != version or record.fallback:
                continue
            if (start is not None or end is not None) and not _within(record, start, end, version):
                continue
            requests += 1
            if record.is_error:
                errors += 1
                continue
            if record.latency_ms is not None:
                latency.append(float(record.latency_ms))
            if record.prediction is not None:
                predictions.append(record.prediction)
                outcomes.append(record.outcome)
        has_outcomes = any(o is not None for o in outcomes)
        if has_outcomes and predictions and not isinstance(predictions[0], str):
            outcomes = [math.nan if o is None else o for o in outcomes]
        return cls(
            requests=requests,
            errors=errors,
            latency_ms=np.asarray(latency, dtype=float),
            predictions=_prediction_array(predictions),
            outcomes=np.asarray(outcomes, dtype=object) if has_outcomes else None,
            version=version,
            start=start,
            end=end,
        )

    @property
    def kind(self) -> Literal["score", "label"] | None:
        """`score` for probabilities, `label` for labels, None without predictions."""
        if self.predictions.size == 0:
            return None
        return "label" if self.predictions.dtype == object else "score"

    @property
    def labelled(self) -> np.ndarray:
        """Mask of the predictions whose outcome is known."""
        if self.outcomes is None:
            return np.zeros(self.predictions.size, dtype=bool)
        if self.outcomes.dtype == object:
            return np.array([o is not None for o in self.outcomes], dtype=bool)
        return ~np.isnan(self.outcomes)

    def counts(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "latencies": int(self.latency_ms.size),
            "predictions": int(self.predictions.size),
            "outcomes": int(self.labelled.sum()),
        }


@dataclass(frozen=True)
class CheckResult:
    """One check of one window: both sides' values, the limit, the test and its verdict."""

    name: str
    verdict: Verdict
    explanation: str
    limit: float
    stable: float | None = None
    candidate: float | None = None
    statistic: float | None = None
    p_value: float | None = None
    interval: tuple[float, float] | None = None
    alpha: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "verdict": self.verdict,
            "explanation": self.explanation,
            "limit": _num(self.limit),
            "stable": _num(self.stable),
            "candidate": _num(self.candidate),
            "statistic": _num(self.statistic),
            "p_value": _num(self.p_value),
            "interval": None if self.interval is None else [_num(v) for v in self.interval],
            "alpha": _num(self.alpha),
            "details": _plain(self.details),
        }


@dataclass(frozen=True)
class Analysis:
    """The decision on one window, with every number it rests on."""

    verdict: Verdict
    explanation: str
    checks: tuple[CheckResult, ...]
    skipped: Mapping[str, str]
    """Checks that did not run, with the reason (e.g. no labelled requests)."""
    window_start: datetime | None
    window_end: datetime | None
    stable_version: str | None
    candidate_version: str | None
    counts: Mapping[str, Mapping[str, int]]
    look: int
    looks: int
    waited_windows: int
    alpha_per_test: float
    policy: AnalysisPolicy

    def check(self, name: str) -> CheckResult:
        for result in self.checks:
            if result.name == name:
                return result
        raise AnalysisInputError(
            f"analysis has no check '{name}'; it ran {[c.name for c in self.checks]} "
            f"and skipped {sorted(self.skipped)}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only (non-finite numbers become null), ready for `json.dumps(allow_nan=False)`."""
        return {
            "verdict": self.verdict,
            "explanation": self.explanation,
            "checks": [c.to_dict() for c in self.checks],
            "skipped": dict(self.skipped),
            "window_start": None if self.window_start is None else self.window_start.isoformat(),
            "window_end": None if self.window_end is None else self.window_end.isoformat(),
            "stable_version": self.stable_version,
            "candidate_version": self.candidate_version,
            "counts": {side: dict(c) for side, c in self.counts.items()},
            "look": self.look,
            "looks": self.looks,
            "waited_windows": self.waited_windows,
            "alpha_per_test": self.alpha_per_test,
            "policy": self.policy.model_dump(mode="json"),
        }


def analyse(
    stable: WindowStats,
    candidate: WindowStats,
    policy: AnalysisPolicy,
    *,
    look: int = 1,
    looks: int = 1,
    waited_windows: int = 0,
) -> Analysis:
    """Compare `candidate` with `stable` over the same window; this is analysis `look` of `looks` planned.

    `waited_windows` counts the consecutive windows before this one, at the same traffic step, that
    ended in `wait`; once it reaches `policy.max_wait_windows`, an undecided window fails. Waiting windows
    are looks too, so plan `looks` = steps x (1 + max_wait_windows) to keep the false-alarm budget.
    """
    if looks < 1 or not 1 <= look <= looks:
        raise AnalysisInputError(
            f"canary analysis look {look} of {looks} is out of range; plan looks >= 1 analyses (every step "
            "and window together) and number them 1..looks, or raise looks (it splits the false-alarm budget)"
        )
    if waited_windows < 0:
        raise AnalysisInputError(f"waited_windows must be 0 or more; got {waited_windows}")
    start, end = _common_window(stable, candidate)
    if stable.version is not None and stable.version == candidate.version:
        raise AnalysisInputError(
            f"stable and candidate are both version '{stable.version}'; pass the candidate's window as "
            "the second argument"
        )
    if stable.kind is not None and candidate.kind is not None and stable.kind != candidate.kind:
        raise AnalysisInputError(
            f"stable predictions are {stable.kind}s but candidate predictions are {candidate.kind}s; "
            "compare versions of the same model"
        )

    alpha = policy.alpha_per_test(looks)
    checks = [
        _error_rate(stable, candidate, policy, alpha),
        _p95_latency(stable, candidate, policy, alpha),
    ]
    skipped: dict[str, str] = {}
    drift_kind = stable.kind or candidate.kind
    if drift_kind is None:
        skipped["prediction_drift"] = "neither side logged predictions"
    else:
        checks.append(_prediction_drift(stable, candidate, policy, alpha))
    metric_skip = _metric_skip_reason(stable, candidate, policy)
    if metric_skip:
        skipped["model_metric"] = metric_skip
    else:
        checks.append(_model_metric(stable, candidate, policy, alpha))

    verdict = _overall([c.verdict for c in checks])
    if verdict == "wait" and waited_windows >= policy.max_wait_windows:
        undecided = [c.name for c in checks if c.verdict == "wait"]
        checks.append(
            CheckResult(
                name="decision_deadline",
                verdict="fail",
                limit=float(policy.max_wait_windows),
                statistic=float(waited_windows + 1),
                explanation=(
                    f"still undecided after {waited_windows + 1} consecutive windows at this step "
                    f"(limit {policy.max_wait_windows} waits) on {undecided}; an undecided canary rolls "
                    "back (not evidence of harm, so outside the false-alarm budget): give it more traffic "
                    "or longer windows, or review it by hand"
                ),
            )
        )
        verdict = "fail"

    return Analysis(
        verdict=verdict,
        explanation=_summary(verdict, checks),
        checks=tuple(checks),
        skipped=skipped,
        window_start=start,
        window_end=end,
        stable_version=stable.version,
        candidate_version=candidate.version,
        counts={"stable": stable.counts(), "candidate": candidate.counts()},
        look=look,
        looks=looks,
        waited_windows=waited_windows,
        alpha_per_test=alpha,
        policy=policy,
    )


# --- checks -------------------------------------------------------------------------------------------


def _error_rate(
    stable: WindowStats, candidate: WindowStats, policy: AnalysisPolicy, alpha: float
) -> CheckResult:
    margin = policy.max_error_rate_increase
    n_s, n_c = stable.requests, candidate.requests
    rate_s = stable.errors / n_s if n_s else None
    rate_c = candidate.errors / n_c if n_c else None
    base: dict[str, Any] = {
        "name": "error_rate",
        "limit": margin,
        "stable": rate_s,
        "candidate": rate_c,
        "alpha": alpha,
    }
    if min(n_s, n_c) < policy.min_requests:
        return CheckResult(verdict="wait", explanation=_too_few("requests", n_s, n_c, policy), **base)
    assert rate_s is not None and rate_c is not None
    z, p, method = margin_score_test(candidate.errors, n_c, stable.errors, n_s, margin)
    rise = rate_c - rate_s
    numbers = (
        f"candidate error rate {rate_c:.2%} ({candidate.errors}/{n_c}) vs stable {rate_s:.2%} "
        f"({stable.errors}/{n_s}): a rise of {rise * 100:+.2f} points against a limit of "
        f"{margin * 100:.2f} (score test p={p:.2g}, alpha {alpha:.2g})"
    )
    verdict = _decide(rise > margin, p, alpha)
    return CheckResult(
        verdict=verdict,
        explanation=_reason(verdict, numbers),
        statistic=z,
        p_value=p,
        details={"test": "farrington_manning", "p_value_method": method},
        **base,
    )


def _p95_latency(
    stable: WindowStats, candidate: WindowStats, policy: AnalysisPolicy, alpha: float
) -> CheckResult:
    limit = policy.max_p95_latency_ratio
    lat_s, lat_c = stable.latency_ms, candidate.latency_ms
    p95_s = float(np.quantile(lat_s, 0.95)) if lat_s.size else None
    p95_c = float(np.quantile(lat_c, 0.95)) if lat_c.size else None
    base: dict[str, Any] = {
        "name": "p95_latency",
        "limit": limit,
        "stable": p95_s,
        "candidate": p95_c,
        "alpha": alpha,
    }
    if min(lat_s.size, lat_c.size) < policy.min_requests:
        return CheckResult(
            verdict="wait",
            explanation=_too_few("successful requests", lat_s.size, lat_c.size, policy),
            **base,
        )
    log_s, se_s = _log_quantile(lat_s, 0.95)
    log_c, se_c = _log_quantile(lat_c, 0.95)
    log_ratio, se = log_c - log_s, math.hypot(se_s, se_c)
    excess = log_ratio - math.log(limit)
    if se > 0:
        z = excess / se
        p = float(stats.norm.sf(z))
        half = float(stats.norm.isf(alpha)) * se
    else:  # tied order statistics on both sides: the quantiles are exact
        z, p, half = (math.inf, 0.0, 0.0) if excess > 0 else (-math.inf, 1.0, 0.0)
    ratio = math.exp(log_ratio)
    interval = (math.exp(log_ratio - half), math.exp(log_ratio + half))
    numbers = (
        f"candidate p95 {math.exp(log_c):.1f} ms vs stable {math.exp(log_s):.1f} ms: ratio {ratio:.2f}, "
        f"{1 - 2 * alpha:.2%} interval [{interval[0]:.2f}, {interval[1]:.2f}] against a limit of {limit:.2f}"
    )
    verdict = _decide(ratio > limit, p, alpha)
    return CheckResult(
        verdict=verdict,
        explanation=_reason(verdict, numbers),
        statistic=ratio,
        p_value=p,
        interval=interval,
        details={"z": z},
        **base,
    )


def _prediction_drift(
    stable: WindowStats, candidate: WindowStats, policy: AnalysisPolicy, alpha: float
) -> CheckResult:
    measure, limit = policy.max_prediction_drift.measure, policy.max_prediction_drift.limit
    pred_s, pred_c = stable.predictions, candidate.predictions
    scores = (stable.kind or candidate.kind) == "score"
    base: dict[str, Any] = {
        "name": "prediction_drift",
        "limit": limit,
        "stable": float(pred_s.mean()) if scores and pred_s.size else None,
        "candidate": float(pred_c.mean()) if scores and pred_c.size else None,
        "alpha": alpha,
    }
    if min(pred_s.size, pred_c.size) < policy.min_requests:
        return CheckResult(
            verdict="wait", explanation=_too_few("predictions", pred_s.size, pred_c.size, policy), **base
        )
    if scores:
        edges = np.unique(np.quantile(pred_s, np.linspace(0, 1, policy.bins + 1)[1:-1]))
        counts_s = np.bincount(np.searchsorted(edges, pred_s, side="right"), minlength=edges.size + 1)
        counts_c = np.bincount(np.searchsorted(edges, pred_c, side="right"), minlength=edges.size + 1)
        details: dict[str, Any] = {"measure": measure, "edges": edges.tolist()}
    else:
        labels = sorted(set(pred_s.tolist()) | set(pred_c.tolist()))
        counts_s = np.array([np.count_nonzero(pred_s == label) for label in labels])
        counts_c = np.array([np.count_nonzero(pred_c == label) for label in labels])
        details = {"measure": measure, "labels": labels}
    share_s, share_c = counts_s / counts_s.sum(), counts_c / counts_c.sum()
    details |= {"stable_shares": share_s.tolist(), "candidate_shares": share_c.tolist()}
    value = psi(share_s, share_c) if measure == "psi" else float(jensenshannon(share_s, share_c, base=2))
    chi2, p = _homogeneity(counts_s, counts_c)
    what = "probability distributions" if scores else "label mixes"
    numbers = (
        f"{measure} {value:.3f} between the stable and candidate {what} against a limit of {limit:g} "
        f"(chi-square test of equal distributions p={p:.2g}, alpha {alpha:.2g})"
    )
    if scores:
        numbers += f"; mean probability {base['candidate']:.3f} vs {base['stable']:.3f}"
    details["chi_square"] = chi2
    verdict = _decide(value > limit, p, alpha)
    return CheckResult(
        verdict=verdict,
        explanation=_reason(verdict, numbers),
        statistic=value,
        p_value=p,
        details=details,
        **base,
    )


def _metric_skip_reason(stable: WindowStats, candidate: WindowStats, policy: AnalysisPolicy) -> str:
    """Why the metric check does not run ("" when it does).

    It runs only once both sides have `min_requests` labelled requests: outcomes arrive late and for a
    fraction of requests, and a check that waited for them would hold (and finally fail) good canaries.
    """
    labelled_s, labelled_c = int(stable.labelled.sum()), int(candidate.labelled.sum())
    if labelled_s == 0 and labelled_c == 0:
        return "no labelled requests on either side"
    if min(labelled_s, labelled_c) < policy.min_requests:
        return (
            f"too few labelled requests (stable {labelled_s}, candidate {labelled_c}; "
            f"needs {policy.min_requests} each)"
        )
    return ""


def _model_metric(
    stable: WindowStats, candidate: WindowStats, policy: AnalysisPolicy, alpha: float
) -> CheckResult:
    margin = policy.max_metric_drop
    mask_s, mask_c = stable.labelled, candidate.labelled
    pred_s, pred_c = stable.predictions[mask_s], candidate.predictions[mask_c]
    assert stable.outcomes is not None and candidate.outcomes is not None
    out_s, out_c = stable.outcomes[mask_s], candidate.outcomes[mask_c]
    if (stable.kind or candidate.kind) == "label":
        right_s, right_c = int((pred_s == out_s).sum()), int((pred_c == out_c).sum())
        acc_s, acc_c = right_s / pred_s.size, right_c / pred_c.size
        # A drop in accuracy is a rise in the miss rate: the same margin test as for errors.
        z, p, method = margin_score_test(
            pred_c.size - right_c, pred_c.size, pred_s.size - right_s, pred_s.size, margin
        )
        drop, name, values = acc_s - acc_c, "accuracy", (acc_s, acc_c)
        details: dict[str, str] = {
            "metric": "accuracy",
            "test": "farrington_manning",
            "p_value_method": method,
        }
    else:
        loss_s, loss_c = (pred_s - out_s) ** 2, (pred_c - out_c) ** 2
        brier_s, brier_c = float(loss_s.mean()), float(loss_c.mean())
        z, p = _welch_margin_test(loss_c, loss_s, margin)
        drop, name, values = brier_c - brier_s, "Brier score", (brier_s, brier_c)
        details = {"metric": "brier_score", "test": "welch", "p_value_method": "normal"}
    numbers = (
        f"candidate {name} {values[1]:.4f} vs stable {values[0]:.4f} on {pred_c.size} and {pred_s.size} "
        f"labelled requests: a loss of {drop:+.4f} against a limit of {margin:g} "
        f"(p={p:.2g}, alpha {alpha:.2g})"
    )
    verdict = _decide(drop > margin, p, alpha)
    return CheckResult(
        name="model_metric",
        verdict=verdict,
        explanation=_reason(verdict, numbers),
        limit=margin,
        stable=values[0],
        candidate=values[1],
        statistic=z,
        p_value=p,
        alpha=alpha,
        details=details,
    )


# --- statistics ---------------------------------------------------------------------------------------


class MarginTest(NamedTuple):
    """Result of `margin_score_test`: the score, its one-sided p-value and how that was computed."""

    z: float
    p_value: float
    method: Literal["exact", "normal"]


def margin_score_test(x1: int, n1: int, x2: int, n2: int, margin: float) -> MarginTest:
    """Test of H1 "p1 - p2 > margin" for x1/n1 events vs x2/n2.

    z is the Farrington-Manning score: its variance uses the maximum-likelihood rates under
    p1 - p2 = margin, so it stays positive when both samples have no events and margin > 0. The normal
    p-value of z is anti-conservative for rare events (about twice the nominal level for 2 % errors in
    400 requests), so the p-value is P(Z >= z) summed exactly over both binomials at those null rates
    (the "E-test": a parametric bootstrap without sampling error). Where that grid would exceed
    `_EXACT_CELLS` outcomes, counts are large enough for the normal curve, which is used instead.
    """
    if n1 < 1 or n2 < 1 or not (0 <= x1 <= n1 and 0 <= x2 <= n2):
        raise AnalysisInputError(f"margin test needs 0 <= events <= trials >= 1; got {x1}/{n1} and {x2}/{n2}")
    z = float(_score_z(np.array(x1), n1, np.array(x2), n2, margin))
    r1, r2 = (float(r) for r in _restricted_rates(np.array(x1 / n1), n1, np.array(x2 / n2), n2, margin))
    k1, w1 = _binomial_support(n1, r1)
    k2, w2 = _binomial_support(n2, r2)
    if k1.size * k2.size > _EXACT_CELLS:
        return MarginTest(z, float(stats.norm.sf(z)), "normal")
    grid = _score_z(k1[:, None], n1, k2[None, :], n2, margin)
    as_extreme = grid >= z - 1e-9 * max(1.0, abs(z)) if math.isfinite(z) else grid >= z
    p = float(w1 @ as_extreme.astype(float) @ w2)
    return MarginTest(z, min(1.0, max(0.0, p)), "exact")


def _score_z(x1: np.ndarray, n1: int, x2: np.ndarray, n2: int, margin: float) -> np.ndarray:
    """Farrington-Manning z for event counts (arrays broadcast); +-inf where the null variance is 0."""
    p1, p2 = x1 / n1, x2 / n2
    r1, r2 = _restricted_rates(p1, n1, p2, n2, margin)
    variance = r1 * (1 - r1) / n1 + r2 * (1 - r2) / n2
    excess = p1 - p2 - margin
    with np.errstate(divide="ignore", invalid="ignore"):
        z = excess / np.sqrt(variance)
    return np.where(variance > 0, z, np.where(excess > 0, np.inf, -np.inf))


def _restricted_rates(
    p1: np.ndarray, n1: int, p2: np.ndarray, n2: int, delta: float
) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood (p1, p2) subject to p1 - p2 = delta: the root of a cubic (Farrington-Manning)."""
    theta = n2 / n1
    a = 1 + theta
    b = -(1 + theta + p1 + theta * p2 + delta * (theta + 2))
    c = delta**2 + delta * (2 * p1 + theta + 1) + p1 + theta * p2
    d = -p1 * delta * (1 + delta)
    v = b**3 / (27 * a**3) - b * c / (6 * a**2) + d / (2 * a)
    u = np.copysign(np.sqrt(np.maximum(b**2 / (9 * a**2) - c / (3 * a), 0.0)), v)
    safe_u = np.where(u == 0, 1.0, u)
    w = (np.pi + np.arccos(np.clip(v / safe_u**3, -1.0, 1.0))) / 3
    r1 = np.where(u == 0, -b / (3 * a), 2 * u * np.cos(w) - b / (3 * a))
    r1 = np.clip(r1, max(delta, 0.0), 1.0)
    return r1, r1 - delta


def _binomial_support(n: int, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Event counts of Binomial(n, rate) and their probabilities, leaving out tails below 1e-12."""
    low = int(stats.binom.ppf(_TAIL, n, rate)) if 0 < rate < 1 else round(n * rate)
    high = int(stats.binom.isf(_TAIL, n, rate)) if 0 < rate < 1 else round(n * rate)
    k = np.arange(max(low - 1, 0), min(high + 1, n) + 1)
    return k, stats.binom.pmf(k, n, rate)


def _welch_margin_test(loss_c: np.ndarray, loss_s: np.ndarray, margin: float) -> tuple[float, float]:
    """z-test of H1 "mean(loss_c) - mean(loss_s) > margin" with unequal variances: (z, one-sided p)."""
    excess = float(loss_c.mean() - loss_s.mean()) - margin
    se = math.sqrt(loss_c.var(ddof=1) / loss_c.size + loss_s.var(ddof=1) / loss_s.size)
    if se == 0:
        return (math.inf, 0.0) if excess > 0 else (-math.inf, 1.0)
    z = excess / se
    return z, float(stats.norm.sf(z))


def _log_quantile(values: np.ndarray, q: float) -> tuple[float, float]:
    """The q-quantile of log(values) and its standard error from the spacing of nearby order statistics.

    se = sd_rank * (y[u] - y[l]) / (u - l), with y the sorted logs and l, u the ranks 1.96 rank-sds
    around the quantile's position: a density-free estimate of sqrt(q(1-q)/n) / f(quantile).
    """
    y = np.sort(np.log(np.maximum(values, _MIN_LATENCY_MS)))
    n = y.size
    sd_rank = math.sqrt(n * q * (1 - q))
    position = q * (n - 1)
    low = max(0, math.floor(position - _SPACING_Z * sd_rank))
    high = min(n - 1, math.ceil(position + _SPACING_Z * sd_rank))
    se = sd_rank * float(y[high] - y[low]) / (high - low) if high > low else 0.0
    return float(np.quantile(y, q)), se


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of shares `actual` against `expected`, empty shares floored at 1e-4."""
    e = np.maximum(np.asarray(expected, dtype=float), _PSI_EPSILON)
    a = np.maximum(np.asarray(actual, dtype=float), _PSI_EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


def _homogeneity(counts_s: np.ndarray, counts_c: np.ndarray) -> tuple[float, float]:
    """Pearson chi-square test that both sides share one distribution over the bins: (chi2, p).

    Bins with fewer than 5 requests on both sides together are merged, so that the approximation holds.
    """
    pooled = counts_s + counts_c
    sparse = pooled < _SPARSE_CELL
    table = np.vstack([counts_s[~sparse], counts_c[~sparse]])
    if sparse.any():
        table = np.column_stack([table, [counts_s[sparse].sum(), counts_c[sparse].sum()]])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0
    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


# --- helpers ------------------------------------------------------------------------------------------


def _decide(beyond_limit: bool, p: float, alpha: float) -> Verdict:
    if not beyond_limit:
        return "pass"
    return "fail" if p < alpha else "wait"


def _reason(verdict: Verdict, numbers: str) -> str:
    lead = {
        "pass": "within the limit",
        "fail": "significantly beyond the limit",
        "wait": "beyond the limit but not significantly yet; needs more requests",
    }[verdict]
    return f"{lead}: {numbers}"


def _too_few(what: str, n_s: int, n_c: int, policy: AnalysisPolicy) -> str:
    return (
        f"too few {what} to decide (stable {n_s}, candidate {n_c}; needs {policy.min_requests} each): "
        "wait for a longer window or more traffic"
    )


def _overall(verdicts: Sequence[Verdict]) -> Verdict:
    if "fail" in verdicts:
        return "fail"
    return "wait" if "wait" in verdicts else "pass"


def _summary(verdict: Verdict, checks: Sequence[CheckResult]) -> str:
    if verdict == "pass":
        return f"candidate within every limit ({', '.join(c.name for c in checks)})"
    names = [c.name for c in checks if c.verdict == verdict]
    return {"fail": "roll back: failed ", "wait": "undecided: waiting on "}[verdict] + ", ".join(names)


def _common_window(stable: WindowStats, candidate: WindowStats) -> tuple[datetime | None, datetime | None]:
    """The shared window; both versions must be compared over the same one (traffic changes over a day)."""
    for attr in ("start", "end"):
        s, c = getattr(stable, attr), getattr(candidate, attr)
        if s is not None and c is not None and s != c:
            raise AnalysisInputError(
                f"stable and candidate windows differ ({attr} {s.isoformat()} vs {c.isoformat()}); "
                "analyse both versions over the same window"
            )
    return stable.start or candidate.start, stable.end or candidate.end


def _within(record: RequestRecord, start: datetime | None, end: datetime | None, version: str) -> bool:
    if record.timestamp is None:
        raise AnalysisInputError(
            f"a request of version '{version}' has no timestamp, so it cannot be placed in the window; "
            "log `timestamp` with every request or build the window without start/end"
        )
    try:
        return (start is None or record.timestamp >= start) and (end is None or record.timestamp < end)
    except TypeError as exc:  # naive vs aware datetimes
        raise AnalysisInputError(
            f"request timestamps and the window of version '{version}' mix naive and timezone-aware "
            "datetimes; use timezone-aware (UTC) datetimes for both"
        ) from exc


def _record_from_mapping(raw: Mapping[str, Any]) -> RequestRecord:
    if "version" not in raw or "status" not in raw:
        raise AnalysisInputError(
            f"request record with keys {sorted(raw)} lacks 'version' or 'status'; every gateway log line "
            "needs both (status null for a transport failure)"
        )
    timestamp = raw.get("timestamp")
    if isinstance(timestamp, str):
        timestamp = datetime.fromisoformat(timestamp)
    return RequestRecord(
        version=None if raw["version"] is None else str(raw["version"]),
        status=raw["status"],
        latency_ms=raw.get("latency_ms"),
        prediction=raw.get("prediction"),
        outcome=raw.get("outcome"),
        timestamp=timestamp,
        fallback=bool(raw.get("fallback", False)),
    )


def _prediction_array(values: Sequence[Any]) -> np.ndarray:
    if values and isinstance(values[0], str):
        return np.asarray(values, dtype=object)
    return np.asarray(values)


def _as_predictions(values: Any, who: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind in "biuf":
        scores = arr.astype(float).ravel()
        if not np.isfinite(scores).all():
            raise AnalysisInputError(f"{who}: probability predictions must be finite")
        return scores
    labels = np.asarray(values, dtype=object).ravel()
    if not all(isinstance(v, str) for v in labels):
        raise AnalysisInputError(
            f"{who}: predictions mix labels and numbers; log a probability (binary models) or a label "
            "(text models) for every request of one model"
        )
    return labels


def _as_outcomes(values: Any, predictions: np.ndarray, who: str) -> np.ndarray:
    raw = np.asarray(values, dtype=object).ravel()
    if raw.size != predictions.size:
        raise AnalysisInputError(
            f"{who}: {raw.size} outcomes for {predictions.size} predictions; align outcomes with "
            "predictions (NaN or None where not known yet)"
        )
    if predictions.dtype == object:
        missing = [v is None or (isinstance(v, float) and math.isnan(v)) for v in raw]
        if not all(m or isinstance(v, str) for v, m in zip(raw, missing, strict=True)):
            raise AnalysisInputError(f"{who}: label outcomes must be strings (None where not known yet)")
        return np.asarray([None if m else v for v, m in zip(raw, missing, strict=True)], dtype=object)
    try:
        outcomes = np.array([math.nan if v is None else float(v) for v in raw], dtype=float)
    except (TypeError, ValueError) as exc:
        raise AnalysisInputError(f"{who}: outcomes of probability predictions must be 0, 1 or NaN") from exc
    known = ~np.isnan(outcomes)
    if not np.isin(outcomes[known], (0.0, 1.0)).all():
        raise AnalysisInputError(f"{who}: outcomes of probability predictions must be 0, 1 or NaN")
    if known.any() and ((predictions[known] < 0) | (predictions[known] > 1)).any():
        raise AnalysisInputError(
            f"{who}: labelled predictions must be probabilities in [0, 1] for the Brier score"
        )
    return outcomes


def _num(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _plain(value: Any) -> Any:
    """`value` with numpy scalars and arrays turned into JSON types, non-finite floats into None."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return _num(value)
    return value
