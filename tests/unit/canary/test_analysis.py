"""Canary analysis on simulated gateway windows: good candidates pass, regressions fail, thin data waits."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from pydantic import ValidationError
from scipy.optimize import minimize_scalar
from scipy.stats import binom

from cxops.canary.analysis import (
    AnalysisInputError,
    RequestRecord,
    WindowStats,
    analyse,
    margin_score_test,
    psi,
)
from cxops.canary.errors import CanaryError
from cxops.canary.policy import AnalysisPolicy, DriftLimit

POLICY = AnalysisPolicy()
INTENTS = np.array(["billing", "cancel", "complaint", "upgrade"], dtype=object)
START = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
END = START + timedelta(minutes=15)


def scores_window(
    rng: np.random.Generator,
    n: int,
    *,
    version: str,
    error_rate: float = 0.005,
    slowdown: float = 1.0,
    shift: float = 0.0,
    labelled: float = 0.0,
    shuffle_outcomes: bool = False,
) -> WindowStats:
    """A churn-like model: Beta(2, 5) probabilities, lognormal latencies around 80 ms, calibrated outcomes."""
    errors = int(rng.binomial(n, error_rate))
    ok = n - errors
    true_p = rng.beta(2, 5, ok)
    outcomes = (rng.random(ok) < true_p).astype(float)
    if shuffle_outcomes:  # same score distribution, but the scores no longer rank customers
        outcomes = rng.permutation(outcomes)
    outcomes[rng.random(ok) >= labelled] = np.nan
    return WindowStats(
        requests=n,
        errors=errors,
        latency_ms=rng.lognormal(math.log(80), 0.5, ok) * slowdown,
        predictions=np.clip(true_p + shift, 0, 1),
        outcomes=outcomes if labelled else None,
        version=version,
        start=START,
        end=END,
    )


def labels_window(
    rng: np.random.Generator,
    n: int,
    *,
    version: str,
    mix: tuple[float, ...] = (0.4, 0.3, 0.2, 0.1),
    accuracy: float = 0.9,
    labelled: float = 1.0,
) -> WindowStats:
    """An intent model whose label is right with probability `accuracy`."""
    truth = rng.choice(INTENTS, size=n, p=mix)
    wrong = rng.random(n) >= accuracy
    shifted = INTENTS[(np.searchsorted(INTENTS, truth) + rng.integers(1, len(INTENTS), n)) % len(INTENTS)]
    predictions = np.where(wrong, shifted, truth)
    outcomes = np.where(rng.random(n) < labelled, truth, None)
    return WindowStats(
        requests=n,
        errors=0,
        latency_ms=rng.lognormal(math.log(30), 0.4, n),
        predictions=predictions,
        outcomes=outcomes,
        version=version,
    )


def test_identical_good_versions_pass_every_check() -> None:
    rng = np.random.default_rng(7)
    stable = scores_window(rng, 4000, version="3", labelled=0.5)
    candidate = scores_window(rng, 1000, version="4", labelled=0.5)

    result = analyse(stable, candidate, POLICY)

    assert result.verdict == "pass", result.explanation
    assert [c.name for c in result.checks] == [
        "error_rate",
        "p95_latency",
        "prediction_drift",
        "model_metric",
    ]
    assert all(c.verdict == "pass" for c in result.checks)
    assert result.skipped == {}
    assert result.counts["candidate"]["requests"] == 1000
    assert (result.window_start, result.window_end) == (START, END)


def test_false_alarm_rate_of_good_canaries_stays_within_alpha() -> None:
    """200 canaries of three looks each, all four checks running, candidate as good as stable.

    Canaries failed on evidence stay within alpha plus three binomial standard deviations.
    """
    rng = np.random.default_rng(2026)
    canaries, looks = 200, 3
    failed = passed_last = 0
    for _ in range(canaries):
        verdicts = []
        for look in range(1, looks + 1):
            n = int(rng.integers(POLICY.min_requests, 3 * POLICY.min_requests))
            stable = scores_window(rng, 4 * n, version="3", labelled=1.0)
            candidate = scores_window(rng, n, version="4", labelled=1.0)
            verdicts.append(analyse(stable, candidate, POLICY, look=look, looks=looks).verdict)
        failed += "fail" in verdicts
        passed_last += verdicts[-1] == "pass"

    alpha = POLICY.false_alarm_rate
    slack = 3 * math.sqrt(canaries * alpha * (1 - alpha))
    assert failed <= canaries * alpha + slack
    assert passed_last >= 0.8 * canaries  # the budget is not met by waiting forever


def test_injected_errors_fail_within_a_few_hundred_requests() -> None:
    rng = np.random.default_rng(11)
    verdicts = []
    for _ in range(50):
        stable = scores_window(rng, 2000, version="3", error_rate=0.005)
        candidate = scores_window(rng, 400, version="4", error_rate=0.055)
        verdicts.append(analyse(stable, candidate, POLICY).check("error_rate").verdict)

    assert "pass" not in verdicts
    assert verdicts.count("fail") >= 45


def test_zero_errors_on_both_sides_pass() -> None:
    rng = np.random.default_rng(3)
    stable = scores_window(rng, 300, version="3", error_rate=0.0)
    candidate = scores_window(rng, 300, version="4", error_rate=0.0)

    check = analyse(stable, candidate, POLICY).check("error_rate")

    assert check.verdict == "pass"
    assert check.p_value is not None and check.p_value > 0.5
    assert check.stable == check.candidate == 0.0


def test_zero_margin_and_zero_errors_do_not_divide_by_zero() -> None:
    result = margin_score_test(0, 300, 0, 300, 0.0)
    assert result.p_value == 1.0 and result.z < 0


def test_score_test_keeps_its_level_at_the_limit_with_rare_errors() -> None:
    """Exact size when the candidate sits exactly on the limit (0.5 % vs 1.5 % errors, 200 vs 1000 requests).

    The normal curve would reject about three times too often here; the exact p-value must not.
    """
    n1, n2, margin, p2 = 200, 1000, 0.01, 0.005
    alpha = POLICY.alpha_per_test(looks=1)
    x1 = np.arange(0, int(binom.isf(1e-9, n1, p2 + margin)) + 1)
    x2 = np.arange(0, int(binom.isf(1e-9, n2, p2)) + 1)
    rejected = np.array(
        [[margin_score_test(int(a), n1, int(b), n2, margin).p_value < alpha for b in x2] for a in x1]
    )

    size = binom.pmf(x1, n1, p2 + margin) @ rejected @ binom.pmf(x2, n2, p2)

    assert 0 < size <= alpha


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "margin"), [(9, 300, 2, 1200, 0.01), (0, 250, 3, 900, 0.02)]
)
def test_score_test_uses_the_restricted_maximum_likelihood(
    x1: int, n1: int, x2: int, n2: int, margin: float
) -> None:
    def negative_log_likelihood(r2: float) -> float:
        r1 = r2 + margin
        terms = [(x1, r1), (n1 - x1, 1 - r1), (x2, r2), (n2 - x2, 1 - r2)]
        return -sum(k * math.log(max(r, 1e-300)) for k, r in terms if k)

    best = minimize_scalar(
        negative_log_likelihood, bounds=(0, 1 - margin), method="bounded", options={"xatol": 1e-12}
    ).x
    variance = (best + margin) * (1 - best - margin) / n1 + best * (1 - best) / n2
    expected_z = (x1 / n1 - x2 / n2 - margin) / math.sqrt(variance)

    z = margin_score_test(x1, n1, x2, n2, margin).z

    assert z == pytest.approx(expected_z, rel=1e-5)


def test_twice_slower_answers_fail() -> None:
    rng = np.random.default_rng(5)
    stable = scores_window(rng, 1000, version="3")
    candidate = scores_window(rng, 250, version="4", slowdown=2.0)

    result = analyse(stable, candidate, POLICY)

    latency = result.check("p95_latency")
    assert result.verdict == "fail"
    assert latency.verdict == "fail"
    assert latency.interval is not None and latency.interval[0] > POLICY.max_p95_latency_ratio
    assert latency.statistic == pytest.approx(2.0, rel=0.25)


def test_a_straddling_latency_interval_waits_and_more_requests_decide() -> None:
    rng = np.random.default_rng(8)
    few = analyse(
        scores_window(rng, 300, version="3"), scores_window(rng, 300, version="4", slowdown=1.4), POLICY
    ).check("p95_latency")
    many = analyse(
        scores_window(rng, 5000, version="3"), scores_window(rng, 5000, version="4", slowdown=1.4), POLICY
    ).check("p95_latency")

    assert few.interval is not None and few.statistic is not None
    assert few.interval[0] < POLICY.max_p95_latency_ratio < few.statistic
    assert few.verdict == "wait"
    assert many.verdict == "fail"


@pytest.mark.parametrize(
    "drift", [DriftLimit(measure="psi", limit=0.2), DriftLimit(measure="jensen_shannon", limit=0.1)]
)
def test_shifted_probabilities_fail(drift: DriftLimit) -> None:
    rng = np.random.default_rng(13)
    policy = AnalysisPolicy(max_prediction_drift=drift)
    stable = scores_window(rng, 1200, version="3")
    candidate = scores_window(rng, 300, version="4", shift=0.15)

    check = analyse(stable, candidate, policy).check("prediction_drift")

    assert check.verdict == "fail"
    assert check.statistic is not None and check.statistic > drift.limit
    assert check.candidate is not None and check.stable is not None
    assert check.candidate - check.stable == pytest.approx(0.15, abs=0.03)
    assert len(check.details["edges"]) == policy.bins - 1


@pytest.mark.parametrize("measure", ["psi", "jensen_shannon"])
def test_label_mix_change_fails_and_same_mix_passes(measure: str) -> None:
    rng = np.random.default_rng(17)
    policy = AnalysisPolicy(max_prediction_drift=DriftLimit(measure=measure, limit=0.1))
    stable = labels_window(rng, 1500, version="3")
    same = labels_window(rng, 400, version="4")
    changed = labels_window(rng, 400, version="4", mix=(0.1, 0.2, 0.3, 0.4))

    assert analyse(stable, same, policy).check("prediction_drift").verdict == "pass"
    check = analyse(stable, changed, policy).check("prediction_drift")
    assert check.verdict == "fail"
    assert check.details["labels"] == sorted(INTENTS.tolist())


def test_psi_floors_empty_bins() -> None:
    value = psi(np.array([0.5, 0.5, 0.0]), np.array([0.45, 0.45, 0.1]))
    assert math.isfinite(value) and value > 0.5
    assert psi(np.array([0.3, 0.7]), np.array([0.3, 0.7])) == 0.0


def test_too_few_requests_wait() -> None:
    rng = np.random.default_rng(19)
    stable = scores_window(rng, 5000, version="3")
    candidate = scores_window(rng, 60, version="4", error_rate=0.2, slowdown=3.0)

    result = analyse(stable, candidate, POLICY)

    assert result.verdict == "wait"
    assert {c.name: c.verdict for c in result.checks} == {
        "error_rate": "wait",
        "p95_latency": "wait",
        "prediction_drift": "wait",
    }
    assert "needs 200 each" in result.check("error_rate").explanation


def test_an_undecided_canary_fails_after_max_wait_windows() -> None:
    rng = np.random.default_rng(23)
    stable = scores_window(rng, 5000, version="3")
    candidate = scores_window(rng, 60, version="4")

    assert analyse(stable, candidate, POLICY, waited_windows=POLICY.max_wait_windows - 1).verdict == "wait"
    result = analyse(stable, candidate, POLICY, waited_windows=POLICY.max_wait_windows)

    assert result.verdict == "fail"
    deadline = result.check("decision_deadline")
    assert deadline.verdict == "fail"
    assert "error_rate" in deadline.explanation


def test_accuracy_drop_on_labelled_requests_fails() -> None:
    rng = np.random.default_rng(29)
    stable = labels_window(rng, 2000, version="3", accuracy=0.9)
    candidate = labels_window(rng, 1000, version="4", accuracy=0.8)

    result = analyse(stable, candidate, POLICY)

    metric = result.check("model_metric")
    assert result.verdict == "fail"
    assert metric.verdict == "fail"
    assert metric.details["metric"] == "accuracy"
    assert metric.stable is not None and metric.candidate is not None
    assert metric.stable - metric.candidate == pytest.approx(0.1, abs=0.03)


def test_brier_score_catches_a_model_that_stopped_ranking_without_drifting() -> None:
    rng = np.random.default_rng(31)
    stable = scores_window(rng, 3000, version="3", labelled=0.5)
    candidate = scores_window(rng, 1500, version="4", labelled=0.5, shuffle_outcomes=True)

    result = analyse(stable, candidate, POLICY)

    assert result.check("prediction_drift").verdict == "pass"
    metric = result.check("model_metric")
    assert metric.verdict == "fail"
    assert metric.details["metric"] == "brier_score"
    assert metric.candidate is not None and metric.stable is not None and metric.candidate > metric.stable


def test_metric_check_is_skipped_until_enough_outcomes_arrive() -> None:
    rng = np.random.default_rng(37)
    stable = scores_window(rng, 2000, version="3", labelled=0.5)
    candidate = scores_window(rng, 500, version="4", labelled=0.1)

    result = analyse(stable, candidate, POLICY)

    assert "model_metric" in result.skipped
    assert "too few labelled requests" in result.skipped["model_metric"]
    assert result.verdict == "pass"


def test_to_dict_is_plain_json_even_with_infinite_statistics() -> None:
    stable = WindowStats(
        requests=400, errors=0, latency_ms=np.full(400, 50.0), predictions=np.full(400, 0.2), version="3"
    )
    candidate = WindowStats(
        requests=400, errors=40, latency_ms=np.full(360, 200.0), predictions=np.full(360, 0.2), version="4"
    )

    result = analyse(stable, candidate, POLICY, look=2, looks=4, waited_windows=1)
    document = json.loads(json.dumps(result.to_dict(), allow_nan=False))

    assert document["verdict"] == "fail"
    latency = next(c for c in document["checks"] if c["name"] == "p95_latency")
    assert latency["verdict"] == "fail" and latency["details"]["z"] is None  # infinite z, tied quantiles
    assert document["alpha_per_test"] == pytest.approx(POLICY.false_alarm_rate / 16)
    assert document["policy"]["max_prediction_drift"] == {"measure": "psi", "limit": 0.2}
    assert document["counts"]["candidate"] == {
        "requests": 400,
        "errors": 40,
        "latencies": 360,
        "predictions": 360,
        "outcomes": 0,
    }


def test_window_from_gateway_records() -> None:
    rng = np.random.default_rng(41)
    records: list[RequestRecord | dict[str, object]] = []
    for i in range(300):
        at = START + timedelta(seconds=i)
        records.append(RequestRecord("3", 200, 40.0 + i % 7, "billing", "billing", at))
        records.append(
            {
                "version": "4",
                "status": 200,
                "latency_ms": 41.0,
                "prediction": "cancel",
                "outcome": None,
                "timestamp": at.isoformat(),
            }
        )
    records.append(RequestRecord("4", None, None, None, None, START))  # transport failure
    records.append(RequestRecord("4", 503, 5.0, None, None, START))
    records.append(RequestRecord("4", 200, 41.0, "cancel", None, END))  # outside [START, END)
    records.append(RequestRecord("3", 200, 45.0, "billing", None, START, fallback=True))  # retry on stable
    records.append({"version": None, "status": 502, "latency_ms": 3.0, "timestamp": START})
    rng.shuffle(records)

    stable = WindowStats.from_records(records, "3", start=START, end=END)
    candidate = WindowStats.from_records(records, "4", start=START, end=END)

    assert stable.counts() == {
        "requests": 300,
        "errors": 0,
        "latencies": 300,
        "predictions": 300,
        "outcomes": 300,
    }
    assert candidate.counts() == {
        "requests": 302,
        "errors": 2,
        "latencies": 300,
        "predictions": 300,
        "outcomes": 0,
    }
    assert candidate.kind == "label"
    result = analyse(stable, candidate, POLICY)
    assert result.check("prediction_drift").verdict == "fail"  # every answer is now "cancel"
    assert result.skipped["model_metric"].startswith("too few labelled")


def test_windows_must_cover_the_same_time() -> None:
    rng = np.random.default_rng(43)
    stable = scores_window(rng, 500, version="3")
    later = WindowStats(requests=10, errors=0, version="4", start=END, end=END + timedelta(minutes=15))

    with pytest.raises(AnalysisInputError, match="windows differ") as caught:
        analyse(stable, later, POLICY)
    assert isinstance(caught.value, CanaryError) and caught.value.status_code == 422


@pytest.mark.parametrize(("look", "looks"), [(0, 1), (3, 2), (1, 0)])
def test_look_must_be_within_the_plan(look: int, looks: int) -> None:
    rng = np.random.default_rng(47)
    with pytest.raises(AnalysisInputError, match="out of range"):
        analyse(
            scores_window(rng, 10, version="3"),
            scores_window(rng, 10, version="4"),
            POLICY,
            look=look,
            looks=looks,
        )


def test_mixed_prediction_types_are_rejected() -> None:
    with pytest.raises(AnalysisInputError, match="mix labels and numbers"):
        WindowStats(requests=2, errors=0, predictions=np.array([0.3, "cancel"], dtype=object))


def test_policy_is_strict_config() -> None:
    with pytest.raises(ValidationError):
        AnalysisPolicy.model_validate({"min_request": 100})
    with pytest.raises(ValidationError, match="at most 1"):
        DriftLimit(measure="jensen_shannon", limit=1.5)
    policy = AnalysisPolicy.model_validate(
        {"max_prediction_drift": {"measure": "jensen_shannon", "limit": 0.1}}
    )
    assert policy.alpha_per_test(looks=5) == pytest.approx(0.01 / 20)
