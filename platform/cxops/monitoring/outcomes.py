"""Late outcomes joined to the predictions they judge, and the realised performance of each version.

A system of record (the CRM: "did the customer churn"; the agents' desk: "was the intent right") reports an
outcome per prediction id, the request id the gateway returned and logged. The prediction is looked up in
the model's request log (`cxops.canary.events`): the answer the customer actually got, which is the retry on
stable (`<id>-fallback`) when a candidate call failed. Its version, label, probability (of the positive
class, for a binary model) and time are stored beside the outcome, so realised metrics per version and
period are read from the database alone, long after the log has rotated or been erased.

Recording needs `outcomes.record` (the `feedback` role); reading realised metrics needs `models.read`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from cxops.governance.identity import Actor
from cxops.governance.service import Governance
from cxops.monitoring.errors import MonitoringInvalidError
from cxops.registry._audit import append_event
from cxops.registry._schema import ModelVersion, Outcome
from cxops.specs import ModelSpec, load_spec

__all__ = [
    "BUCKETS",
    "MAX_OUTCOMES_PER_CALL",
    "Bucket",
    "OutcomeIn",
    "OutcomeReceipt",
    "OutcomeService",
    "RealisedMetrics",
    "RowRef",
    "allowed_outcomes",
]

MAX_OUTCOMES_PER_CALL = 10_000
"""Outcomes one API call may carry; send more in several calls."""

FALLBACK_SUFFIX = "-fallback"
"""Suffix of the request id of a retry on stable after a failed candidate call (`cxops.canary.gateway`)."""

Bucket = Literal["day", "week", "all"]
BUCKETS: tuple[str, ...] = ("day", "week", "all")

_VERSION = re.compile(r"^v?(\d+)$")
_IN_CHUNK = 500
"""Prediction ids per `IN (...)` query: well below every backend's limit on bound parameters."""


class OutcomeIn(BaseModel):
    """What really happened to one prediction (one row of a batch prediction)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"prediction_id": "5b0f3c9e2d4a4f6b8e1a7c3d9f2e6a10", "outcome": "Yes"}]
        },
    )
    prediction_id: str = Field(
        min_length=1,
        max_length=128,
        description="The request id the gateway returned (header `x-request-id`) and logged.",
    )
    row: int = Field(0, ge=0, description="Row of a batch request; 0 for a single prediction.")
    outcome: str = Field(
        min_length=1,
        max_length=256,
        description="The true label, spelt as the model's label categories are (churn: 'Yes' / 'No').",
    )
    observed_at: datetime | None = Field(
        None, description="When the outcome was observed (naive means UTC); default: when it is recorded."
    )


class RowRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    prediction_id: str
    row: int


class OutcomeReceipt(BaseModel):
    """What a call to `OutcomeService.record` did with the outcomes it was given."""

    model_config = ConfigDict(extra="forbid")
    recorded: int = Field(description="Outcomes stored by this call.")
    duplicates: int = Field(description="Outcomes of predictions recorded before (kept, not overwritten).")
    unknown: list[str] = Field(
        description="Prediction ids with no successful answer in the model's request log (or answered by "
        "a version the registry does not know); nothing was stored for them."
    )
    rows_out_of_range: list[RowRef] = Field(
        description="Rows beyond the answer's rows (or rows without a label); nothing was stored for them."
    )


class RealisedMetrics(BaseModel):
    """How right one version's predictions turned out, over one period of prediction time."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    model: str
    version: int
    period: str = Field(description="`2026-12-01` (day), `2026-W49` (ISO week) or `all`.")
    start: datetime = Field(
        description="Start of the period (UTC); for `all`, the time of its first prediction."
    )
    n: int = Field(description="Predictions with an outcome.")
    accuracy: float
    brier: float | None = Field(
        None, description="Binary models: mean squared error of the positive-class probability."
    )
    roc_auc: float | None = Field(None, description="Binary models, when both outcomes occur in the period.")
    predicted_positive_rate: float | None = Field(
        None, description="Binary models: share of predictions of the positive label."
    )
    observed_positive_rate: float | None = Field(
        None, description="Binary models: share of outcomes that were the positive label."
    )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (the start as ISO 8601), as alerts and audit payloads keep them."""
        return self.model_dump(mode="json")


@dataclass(frozen=True)
class _Logged:
    """One successful answer of the request log."""

    version: int | None
    labels: list[str | None]
    probabilities: list[float | None]
    at: datetime


@dataclass(frozen=True)
class _Joined:
    version: int
    predicted: str
    probability: float | None
    outcome: str
    predicted_at: datetime


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _base_id(prediction_id: str) -> str:
    """A fallback's id names the same prediction as the request the customer sent."""
    if prediction_id.endswith(FALLBACK_SUFFIX):
        return prediction_id[: -len(FALLBACK_SUFFIX)]
    return prediction_id


def _failed(event: dict[str, Any]) -> bool:
    status = event.get("cxopsstatus")
    return bool(event.get("cxopserror")) or (isinstance(status, int) and status >= 400)


def _version(value: Any) -> int | None:
    match = _VERSION.match(str(value)) if value is not None else None
    return int(match.group(1)) if match else None


def _index_log(events: Iterable[dict[str, Any]]) -> dict[str, _Logged]:
    """Request id -> the answer the customer got: the `-fallback` retry when there is one, failed calls
    left out. `events` are response events, oldest first."""
    from cxops.canary._payload import answers_of

    index: dict[str, _Logged] = {}
    from_fallback: set[str] = set()
    for event in events:
        event_id = event.get("id")
        if not isinstance(event_id, str) or _failed(event):
            continue
        answers = answers_of(event.get("data"))
        if not answers:
            continue
        base = _base_id(event_id)
        fallback = base != event_id
        if base in from_fallback and not fallback:
            continue
        index[base] = _Logged(
            version=_version(event.get("cxopsversion")),
            labels=[a.label for a in answers],
            probabilities=[a.probability for a in answers],
            at=_utc(datetime.fromisoformat(event["time"])),
        )
        if fallback:
            from_fallback.add(base)
    return index


def _read_log(gov: Governance, model: str) -> dict[str, _Logged]:
    from cxops.canary.events import EVENT_RESPONSE, log_root, read_events

    return _index_log(read_events(log_root(gov.settings) / model, event_type=EVENT_RESPONSE))


def allowed_outcomes(spec: ModelSpec) -> list[str]:
    """The labels an outcome may name: the label column's categories, and the real dataset's labels when
    the model trains on those (as the text trainer declares them)."""
    return list(dict.fromkeys([*spec.label_categories, *(spec.data.real_dataset_labels or [])]))


def _positive(spec: ModelSpec) -> str | None:
    """The positive label of a binary classifier; None for other models."""
    if spec.task == "binary_classification" and len(spec.label_categories) == 2:
        return spec.data.positive_label
    return None


def _check_labels(model: str, spec: ModelSpec, items: Sequence[OutcomeIn]) -> None:
    allowed = allowed_outcomes(spec)
    known = set(allowed)
    wrong = list(dict.fromkeys(item.outcome for item in items if item.outcome not in known))
    if wrong:
        shown = ", ".join(repr(w) for w in wrong[:5]) + (
            f" and {len(wrong) - 5} more" if len(wrong) > 5 else ""
        )
        first = next(item for item in items if item.outcome not in known)
        raise MonitoringInvalidError(
            f"outcome {shown} (first for prediction {first.prediction_id!r}) is not a label of model "
            f"{model!r}; its labels are: {', '.join(repr(a) for a in allowed)}. Nothing was recorded: "
            "correct the values (case matters) and send the call again"
        )


def _chunks(values: Sequence[str], size: int = _IN_CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _recorded_keys(session: Session, model: str, ids: Sequence[str]) -> set[tuple[str, int]]:
    keys: set[tuple[str, int]] = set()
    for chunk in _chunks(ids):
        query = sa.select(Outcome.prediction_id, Outcome.row).where(
            Outcome.model == model, Outcome.prediction_id.in_(chunk)
        )
        keys.update((pid, row) for pid, row in session.execute(query))
    return keys


# Realised metrics -------------------------------------------------------------------------------------------


def _period(moment: datetime, bucket: str) -> tuple[str, datetime | None]:
    """The label and start of the period that `moment` falls in (None start for `all`)."""
    day = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    if bucket == "day":
        return day.date().isoformat(), day
    if bucket == "week":
        year, week, weekday = moment.isocalendar()
        return f"{year}-W{week:02d}", day - timedelta(days=weekday - 1)
    return "all", None


def _roc_auc(scores: Sequence[float], positives: Sequence[bool]) -> float | None:
    """Area under the ROC curve (Mann–Whitney U, ties counted half); None unless both classes occur."""
    n_pos = sum(positives)
    n_neg = len(positives) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1  # average rank of a run of ties, 1-based
        i = j + 1
    rank_sum = sum(rank for rank, positive in zip(ranks, positives, strict=True) if positive)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _metrics(
    model: str, version: int, period: str, start: datetime, rows: Sequence[_Joined], positive: str | None
) -> RealisedMetrics:
    n = len(rows)
    accuracy = sum(r.predicted == r.outcome for r in rows) / n
    if positive is None:
        return RealisedMetrics(
            model=model, version=version, period=period, start=start, n=n, accuracy=accuracy
        )
    scored = [(r.probability, r.outcome == positive) for r in rows if r.probability is not None]
    probabilities = [p for p, _ in scored]
    observed = [y for _, y in scored]
    brier = sum((p - y) ** 2 for p, y in scored) / len(scored) if scored else None
    return RealisedMetrics(
        model=model,
        version=version,
        period=period,
        start=start,
        n=n,
        accuracy=accuracy,
        brier=brier,
        roc_auc=_roc_auc(probabilities, observed),
        predicted_positive_rate=sum(r.predicted == positive for r in rows) / n,
        observed_positive_rate=sum(r.outcome == positive for r in rows) / n,
    )


def _summarise(
    model: str, rows: Iterable[_Joined], bucket: str, positive: str | None
) -> list[RealisedMetrics]:
    groups: dict[tuple[int, str], list[_Joined]] = defaultdict(list)
    starts: dict[tuple[int, str], datetime] = {}
    for row in rows:
        label, start = _period(row.predicted_at, bucket)
        key = (row.version, label)
        groups[key].append(row)
        start = start or row.predicted_at
        starts[key] = min(starts.get(key, start), start)
    return [
        _metrics(model, version, label, starts[(version, label)], groups[(version, label)], positive)
        for version, label in sorted(groups)
    ]


class OutcomeService:
    """Outcomes kept in the metadata store, joined to the request log once, when they are recorded."""

    def __init__(self, gov: Governance) -> None:
        self.gov = gov

    def record(self, actor: Actor, model: str, items: Sequence[OutcomeIn]) -> OutcomeReceipt:
        """Join each outcome to its logged prediction and store both; one `outcomes.recorded` audit event
        (counts only) per call. An outcome that is not one of the model's labels refuses the whole call
        before anything is stored; an id recorded before is a duplicate and keeps its first outcome."""
        role = self.gov.authorize(actor, "outcomes.record")
        spec = load_spec(model, self.gov.settings)
        _check_labels(model, spec, items)
        logged = _read_log(self.gov, model)
        now = self.gov.clock()

        def write(session: Session) -> OutcomeReceipt:
            versions = set(
                session.scalars(sa.select(ModelVersion.version).where(ModelVersion.model == model))
            )
            ids = list(dict.fromkeys(_base_id(item.prediction_id) for item in items))
            taken = _recorded_keys(session, model, ids)
            rows: list[dict[str, Any]] = []
            unknown: list[str] = []
            out_of_range: list[RowRef] = []
            duplicates = 0
            per_version: dict[int, int] = defaultdict(int)
            for item in items:
                prediction_id = _base_id(item.prediction_id)
                answer = logged.get(prediction_id)
                if answer is None or answer.version not in versions:
                    unknown.append(prediction_id)
                    continue
                if item.row >= len(answer.labels) or answer.labels[item.row] is None:
                    out_of_range.append(RowRef(prediction_id=prediction_id, row=item.row))
                    continue
                if (prediction_id, item.row) in taken:
                    duplicates += 1
                    continue
                taken.add((prediction_id, item.row))
                assert answer.version is not None
                per_version[answer.version] += 1
                rows.append(
                    {
                        "model": model,
                        "prediction_id": prediction_id,
                        "row": item.row,
                        "version": answer.version,
                        "predicted": answer.labels[item.row],
                        "probability": answer.probabilities[item.row],
                        "outcome": item.outcome,
                        "predicted_at": answer.at,
                        "observed_at": _utc(item.observed_at) if item.observed_at else now,
                        "recorded_by": actor.name,
                        "recorded_at": now,
                    }
                )
            if rows:
                session.execute(sa.insert(Outcome), rows)
            receipt = OutcomeReceipt(
                recorded=len(rows),
                duplicates=duplicates,
                unknown=list(dict.fromkeys(unknown)),
                rows_out_of_range=out_of_range,
            )
            append_event(
                session,
                actor=actor.name,
                role=role,
                action="outcomes.recorded",
                model=model,
                payload={
                    "received": len(items),
                    "recorded": receipt.recorded,
                    "duplicates": receipt.duplicates,
                    "unknown": len(receipt.unknown),
                    "rows_out_of_range": len(receipt.rows_out_of_range),
                    "recorded_by_version": {str(v): n for v, n in sorted(per_version.items())},
                },
            )
            return receipt

        return self.gov.registry.write(write, f"recording outcomes of model {model!r}")

    def realised(
        self,
        actor: Actor,
        model: str,
        *,
        version: int | None = None,
        since: datetime | None = None,
        bucket: Bucket = "day",
    ) -> list[RealisedMetrics]:
        """Realised metrics per version and period of prediction time (`day`, ISO `week` or `all`), for
        predictions made at or after `since`; sorted by version, then period."""
        self.gov.authorize(actor, "models.read")
        if bucket not in BUCKETS:
            raise MonitoringInvalidError(
                f"bucket {bucket!r} is not a period of realised metrics; use one of: {', '.join(BUCKETS)}"
            )
        spec = load_spec(model, self.gov.settings)
        return _summarise(model, self._joined(model, version, since), bucket, _positive(spec))

    def performance(self, model: str, version: int, *, since: datetime | None) -> RealisedMetrics | None:
        """Realised metrics of one version over the predictions made since `since` (None: all of them);
        None when none has an outcome yet. Unauthorised: for the platform's own monitoring policy."""
        spec = load_spec(model, self.gov.settings)
        found = _summarise(model, self._joined(model, version, since), "all", _positive(spec))
        return found[0] if found else None

    def _joined(self, model: str, version: int | None, since: datetime | None) -> list[_Joined]:
        query = sa.select(
            Outcome.version, Outcome.predicted, Outcome.probability, Outcome.outcome, Outcome.predicted_at
        ).where(Outcome.model == model)
        if version is not None:
            query = query.where(Outcome.version == version)
        if since is not None:
            query = query.where(Outcome.predicted_at >= _utc(since))
        with self.gov.registry.reading() as session:
            return [_Joined(*row) for row in session.execute(query.order_by(Outcome.predicted_at))]
