"""Promotion gates: each is a function of the version, the current production version and the policy,
and answers rows of (gate, check, required, actual, passed, fix). `evaluate_gates` runs the gates that
`policies/promotion.yaml` lists for the target stage."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from cxops.config import Settings
from cxops.governance.policy import PromotionPolicy
from cxops.registry import ModelVersionRecord, Registry, RegistryNotFoundError, Stage
from cxops.registry._schema import Approval
from cxops.specs import ModelSpec

__all__ = ["GateContext", "GateResult", "evaluate_gates", "valid_approvals"]


@dataclass(frozen=True)
class GateResult:
    gate: str
    check: str
    """What was checked within the gate (a metric, a segment and measure, ...)."""
    required: str
    actual: str
    passed: bool
    fix: str = ""
    """How to make a failing check pass."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GateContext:
    """Everything a gate may read. `production` is the version the promotion would replace, if any."""

    version: ModelVersionRecord
    target: Stage
    spec: ModelSpec
    policy: PromotionPolicy
    settings: Settings
    registry: Registry
    now: datetime
    production: ModelVersionRecord | None = None
    approvals: list[dict[str, Any]] = field(default_factory=list)
    """Filled by the approval gate: the approvals the transition will use."""
    gaps: dict[int, list[Any]] = field(default_factory=dict)
    """Bias gaps by version number, computed once for the bias and bias-regression gates."""


def _fmt(value: float | None) -> str:
    return "missing" if value is None or not math.isfinite(value) else f"{value:.4f}"


def _ownership(ctx: GateContext) -> list[GateResult]:
    fix = f"set owner and team in models/{ctx.spec.name}/spec.yaml and register a new version"
    return [
        GateResult(
            "ownership", "owner", "set", ctx.version.owner or "unset", bool(ctx.version.owner.strip()), fix
        ),
        GateResult(
            "ownership", "team", "set", ctx.version.team or "unset", bool(ctx.version.team.strip()), fix
        ),
    ]


def _data_validation(ctx: GateContext) -> list[GateResult]:
    validation_id = ctx.version.lineage.get("validation_id")
    fix = "retrain on data that passes its expectation suite (`cxops pipeline run`)"
    if validation_id is None:
        return [
            GateResult("data_validation", "training data", "validated", "no validation recorded", False, fix)
        ]
    try:
        validation = ctx.registry.get_validation(int(validation_id))
    except RegistryNotFoundError:
        return [
            GateResult(
                "data_validation", "training data", "validated", "validation record missing", False, fix
            )
        ]
    actual = f"suite {validation.suite}: {'passed' if validation.success else 'failed'} (#{validation.id})"
    return [GateResult("data_validation", "training data", "suite passed", actual, validation.success, fix)]


def _metrics(ctx: GateContext) -> list[GateResult]:
    from cxops.evaluation.report import check_thresholds

    rows = []
    for check in check_thresholds(ctx.version.metrics, ctx.spec.evaluation.thresholds):
        sign = "≥" if check.direction == "min" else "≤"
        rows.append(
            GateResult(
                "metrics",
                check.metric,
                f"{sign} {check.bound:.4f}",
                _fmt(check.value),
                check.passed,
                "improve the model or its data and retrain; thresholds are in the spec's evaluation section",
            )
        )
    return rows


def _metric_regression(ctx: GateContext) -> list[GateResult]:
    from cxops.evaluation.report import LOWER_IS_BETTER

    production = ctx.production
    if production is None or production.version == ctx.version.version:
        return [GateResult("metric_regression", "against production", "no production yet", "-", True)]
    tolerance = ctx.policy.metric_regression_tolerance
    rows = []
    for metric in ctx.spec.evaluation.thresholds:
        ours, theirs = ctx.version.metrics.get(metric), production.metrics.get(metric)
        if theirs is None:
            continue
        if metric in LOWER_IS_BETTER:
            required, passed = theirs + tolerance, ours is not None and ours <= theirs + tolerance
            sign = "≤"
        else:
            required, passed = theirs - tolerance, ours is not None and ours >= theirs - tolerance
            sign = "≥"
        rows.append(
            GateResult(
                "metric_regression",
                metric,
                f"{sign} {required:.4f} (v{production.version} {theirs:.4f} ∓ {tolerance})",
                _fmt(ours),
                bool(passed),
                f"the candidate is worse than production v{production.version}; keep production or retrain",
            )
        )
    return rows


def _gaps(ctx: GateContext, record: ModelVersionRecord) -> list[Any]:
    if record.version in ctx.gaps:
        return ctx.gaps[record.version]
    from cxops.governance.bias import bias_gaps, load_predictions

    bias = ctx.policy.bias
    measures = list(bias.limits.get(ctx.spec.task, {}))
    predictions = load_predictions(Path(record.artifacts["evaluation"]))
    ctx.gaps[record.version] = bias_gaps(
        predictions,
        ctx.spec.task,
        [s for s in ctx.spec.evaluation.bias_segments if s in predictions.columns],
        measures,
        resamples=bias.resamples,
        confidence=bias.confidence,
        min_group_rows=bias.min_group_rows,
        seed=record.version,
    )
    return ctx.gaps[record.version]


def _bias(ctx: GateContext) -> list[GateResult]:
    limits = ctx.policy.bias.limits.get(ctx.spec.task, {})
    if not limits:
        return [
            GateResult(
                "bias",
                "limits",
                f"limits for {ctx.spec.task}",
                "none in the policy",
                False,
                f"add bias.limits.{ctx.spec.task} to policies/promotion.yaml",
            )
        ]
    try:
        gaps = _gaps(ctx, ctx.version)
    except Exception as error:  # noqa: BLE001 - a gate that cannot be computed fails, with the reason
        return [
            GateResult(
                "bias",
                "predictions",
                "per-row test predictions",
                str(error),
                False,
                "re-run the pipeline: this version was evaluated without saving its predictions",
            )
        ]
    rows = []
    level = round(ctx.policy.bias.confidence * 100)
    for gap in gaps:
        limit = limits[gap.measure]
        if not math.isfinite(gap.value):
            rows.append(
                GateResult(
                    "bias", f"{gap.segment}: {gap.measure}", f"≤ {limit}", "not measurable", True, gap.note
                )
            )
            continue
        rows.append(
            GateResult(
                "bias",
                f"{gap.segment}: {gap.measure}",
                f"≤ {limit}",
                f"{gap.value:.4f} ({level}% CI {gap.low:.4f}–{gap.high:.4f})",
                gap.value <= limit,
                f"the gap between {gap.segment} groups is too wide; see the bias report in the model card",
            )
        )
    return rows


def _bias_regression(ctx: GateContext) -> list[GateResult]:
    production = ctx.production
    if production is None or production.version == ctx.version.version:
        return [GateResult("bias_regression", "against production", "no production yet", "-", True)]
    tolerance = ctx.policy.bias.regression_tolerance
    try:
        ours = {(g.segment, g.measure): g for g in _gaps(ctx, ctx.version)}
        theirs = {(g.segment, g.measure): g for g in _gaps(ctx, production)}
    except Exception as error:  # noqa: BLE001 - a gate that cannot be computed fails, with the reason
        return [
            GateResult(
                "bias_regression",
                "predictions",
                "per-row test predictions",
                str(error),
                False,
                "re-run the pipeline so both versions have saved predictions",
            )
        ]
    rows = []
    for key, gap in ours.items():
        old = theirs.get(key)
        if old is None or not (math.isfinite(gap.value) and math.isfinite(old.value)):
            continue
        bound = old.value + tolerance
        rows.append(
            GateResult(
                "bias_regression",
                f"{key[0]}: {key[1]}",
                f"CI low ≤ {bound:.4f} (v{production.version} {old.value:.4f} + {tolerance})",
                f"{gap.value:.4f} (CI low {gap.low:.4f})",
                gap.low <= bound,
                f"the gap grew beyond noise against production v{production.version}; investigate first",
            )
        )
    return rows or [GateResult("bias_regression", "against production", "comparable gaps", "none", True)]


def _dpia(ctx: GateContext) -> list[GateResult]:
    from cxops.governance.dpia import check_dpia

    status = check_dpia(ctx.spec, ctx.settings, ctx.now.date(), registry=ctx.registry)
    actual = status.state if status.state != "ok" else f"approved, review by {status.review_date}"
    return [
        GateResult(
            "dpia",
            ctx.spec.privacy.dpia,
            "approved, unexpired, covers every feature category",
            actual,
            status.state == "ok",
            "; ".join(status.problems),
        )
    ]


def valid_approvals(ctx: GateContext) -> list[dict[str, Any]]:
    """Unused, unexpired approvals of this version for the target stage, by an allowed non-author."""
    approval = ctx.policy.approval
    with ctx.registry.reading() as session:
        rows = session.scalars(
            sa.select(Approval)
            .where(
                Approval.model == ctx.version.model,
                Approval.version == ctx.version.version,
                Approval.target_stage == ctx.target.value,
                Approval.used_by.is_(None),
                Approval.expires_at > ctx.now,
            )
            .order_by(Approval.id)
        ).all()
    return [
        {"id": row.id, "approver": row.approver, "role": row.role, "expires_at": row.expires_at.isoformat()}
        for row in rows
        if row.approver != ctx.version.created_by and row.role in approval.roles
    ]


def _approval(ctx: GateContext) -> list[GateResult]:
    required = ctx.policy.approval.required
    ctx.approvals = valid_approvals(ctx)[: max(required, 1)]
    who = ", ".join(a["approver"] for a in ctx.approvals) or "none"
    return [
        GateResult(
            "approval",
            f"to {ctx.target.value}",
            f"{required} by {'/'.join(ctx.policy.approval.roles)}, not the author ({ctx.version.created_by}),"
            f" within {ctx.policy.approval.ttl_hours:g} h",
            f"{len(ctx.approvals)} valid ({who})",
            len(ctx.approvals) >= required,
            f"ask a {' or '.join(ctx.policy.approval.roles)} user to run "
            f"`cxops models approve {ctx.version.model} {ctx.version.version} --to {ctx.target.value}`",
        )
    ]


GATE_FUNCTIONS: dict[str, Callable[[GateContext], list[GateResult]]] = {
    "ownership": _ownership,
    "data_validation": _data_validation,
    "metrics": _metrics,
    "metric_regression": _metric_regression,
    "bias": _bias,
    "bias_regression": _bias_regression,
    "dpia": _dpia,
    "approval": _approval,
}


def evaluate_gates(ctx: GateContext) -> list[GateResult]:
    """Every gate the policy lists for the target stage, in the policy's order."""
    results: list[GateResult] = []
    for gate in ctx.policy.gates_for(ctx.target):
        results.extend(GATE_FUNCTIONS[gate](ctx))
    return results
