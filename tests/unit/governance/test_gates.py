"""Each promotion gate, passing and failing."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime

from cxops.governance.gates import GateContext, evaluate_gates
from cxops.governance.service import Governance
from cxops.registry import ModelVersionRecord, Stage
from cxops.specs import load_spec

MakeVersion = Callable[..., ModelVersionRecord]
PASSING_METRICS = {"roc_auc": 0.85, "pr_auc": 0.65, "recall": 0.70, "f1": 0.62}
"""Churn metrics above every threshold of the churn spec (the same as the fixtures' default)."""


def _gates(gov: Governance, version: ModelVersionRecord, target: Stage, **context: object) -> dict:
    ctx = GateContext(
        version=version,
        target=target,
        spec=load_spec("churn", gov.settings),
        policy=gov.policy,
        settings=gov.settings,
        registry=gov.registry,
        now=gov.clock(),
    )
    for key, value in context.items():
        setattr(ctx, key, value)
    results: dict[str, list] = {}
    for result in evaluate_gates(ctx):
        results.setdefault(result.gate, []).append(result)
    return results


def _passed(results: dict, gate: str) -> bool:
    return all(r.passed for r in results[gate])


def test_a_good_version_passes_every_staging_gate(gov: Governance, make_version: MakeVersion) -> None:
    results = _gates(gov, make_version(), Stage.STAGING)
    assert list(results) == gov.policy.gates_for(Stage.STAGING)
    assert all(_passed(results, gate) for gate in results)


def test_ownership(gov: Governance, make_version: MakeVersion) -> None:
    ownerless = dataclasses.replace(make_version(), owner=" ")
    assert not _passed(_gates(gov, ownerless, Stage.STAGING), "ownership")


def test_data_validation(gov: Governance, make_version: MakeVersion) -> None:
    results = _gates(gov, make_version(validated=False), Stage.STAGING)["data_validation"]
    assert not results[0].passed and "failed" in results[0].actual
    unvalidated = dataclasses.replace(make_version(), lineage={})
    assert not _passed(_gates(gov, unvalidated, Stage.STAGING), "data_validation")


def test_metric_thresholds(gov: Governance, make_version: MakeVersion) -> None:
    results = _gates(gov, make_version(metrics={**PASSING_METRICS, "recall": 0.5}), Stage.STAGING)["metrics"]
    assert [(r.check, r.passed) for r in results if not r.passed] == [("recall", False)]
    [recall] = [r for r in results if r.check == "recall"]
    assert recall.required == "≥ 0.6000" and recall.actual == "0.5000"


def test_metric_regression_against_production(gov: Governance, make_version: MakeVersion) -> None:
    production = make_version(metrics={**PASSING_METRICS, "roc_auc": 0.90})
    slightly_worse = make_version(metrics={**PASSING_METRICS, "roc_auc": 0.89})
    much_worse = make_version(metrics={**PASSING_METRICS, "roc_auc": 0.85})
    ok = _gates(gov, slightly_worse, Stage.PRODUCTION, production=production)
    assert _passed(ok, "metric_regression")
    bad = _gates(gov, much_worse, Stage.PRODUCTION, production=production)["metric_regression"]
    assert [r.check for r in bad if not r.passed] == ["roc_auc"]


def test_bias_limits_with_intervals(gov: Governance, make_version: MakeVersion) -> None:
    fair = _gates(gov, make_version(), Stage.STAGING)["bias"]
    assert all(r.passed for r in fair) and "95% CI" in fair[0].actual
    unfair = _gates(gov, make_version(recall_gap=0.35), Stage.STAGING)["bias"]
    assert [r.check for r in unfair if not r.passed] == ["gender: equal_opportunity_difference"]


def test_bias_without_saved_predictions_fails(gov: Governance, make_version: MakeVersion) -> None:
    version = make_version()
    (
        version.artifacts["evaluation"] and __import__("pathlib").Path(version.artifacts["evaluation"])
    ).joinpath("predictions.parquet").unlink()
    [result] = _gates(gov, version, Stage.STAGING)["bias"]
    assert not result.passed and "re-run the pipeline" in result.fix


def test_bias_regression_against_production(gov: Governance, make_version: MakeVersion) -> None:
    production = make_version(recall_gap=0.0, rows=6000)
    grown = make_version(recall_gap=0.12, rows=6000)  # within the limit, but clearly wider than production's
    results = _gates(gov, grown, Stage.PRODUCTION, production=production)
    assert _passed(results, "bias")
    assert [r.check for r in results["bias_regression"] if not r.passed] == [
        "gender: equal_opportunity_difference"
    ]
    same = _gates(gov, make_version(recall_gap=0.0, rows=6000), Stage.PRODUCTION, production=production)
    assert _passed(same, "bias_regression")


def test_dpia_must_be_in_force(gov: Governance, make_version: MakeVersion) -> None:
    version = make_version()
    assert _passed(_gates(gov, version, Stage.STAGING), "dpia")
    gov.clock = lambda: datetime(2028, 1, 1, tzinfo=UTC)  # after the churn DPIA's review date
    [result] = _gates(gov, version, Stage.STAGING)["dpia"]
    assert not result.passed and result.actual == "expired"
