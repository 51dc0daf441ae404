"""Bias gaps between the groups of a segment, with bootstrap confidence intervals, for promotion gates.

Read from the per-row test predictions every evaluation saves (`predictions.parquet`; see
`cxops.evaluation.report`), so the candidate and the production version are measured the same way.

- Every measure is a gap in a share: the share of a group's rows where an event holds (predicted
  positive; predicted positive among the actual positives; correct; a hit). A group's statistic is that
  share; the gap is the highest group's share minus the lowest group's.
- Rows whose segment value is missing belong to no group and are left out; so are groups with fewer
  than `min_group_rows` rows (the rows the share is taken over: for equal opportunity, the positives).
- The interval is a percentile bootstrap, stratified by group: each replicate resamples every group's
  rows with replacement, keeping its size. Each replicate measures the same two groups as the point
  estimate (highest minus lowest), so when groups are alike the interval reaches below 0, where they
  swap; a max-minus-min replicate would never reach 0. Resampling n rows of which k hold the event
  draws the count from Binomial(n, k/n), so replicates are drawn on counts: the cost does not grow
  with the rows.
- A segment with fewer than two usable groups still yields its `BiasGap`, with `value`, `low` and
  `high` NaN and a note saying why: one gap per segment and measure, every time.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxops.governance.errors import GovernanceInputError, GovernanceNotFoundError

__all__ = [
    "MEASURES",
    "PREDICTIONS_FILE",
    "BiasGap",
    "BiasInputError",
    "Measure",
    "MissingPredictionsError",
    "bias_gaps",
    "load_predictions",
]

PREDICTIONS_FILE = "predictions.parquet"
"""Equal to `cxops.evaluation.report.PREDICTIONS_FILE` (a test checks): named here so that reading a
file does not import the modelling libraries the evaluation package loads."""


class BiasInputError(GovernanceInputError):
    """Predictions, a task, a measure or a segment that bias gaps cannot be computed from (422)."""


class MissingPredictionsError(GovernanceNotFoundError):
    """An evaluation directory without `predictions.parquet` (404)."""


@dataclass(frozen=True)
class BiasGap:
    """One measure's gap between the groups of one segment."""

    segment: str
    measure: str
    value: float
    """Highest minus lowest group statistic; NaN with fewer than two usable groups."""
    low: float
    high: float
    """Bounds of the bootstrap confidence interval of `value` (NaN where `value` is)."""
    groups: dict[str, float] = field(default_factory=dict)
    """Each usable group's statistic (its share), groups left out are not here."""
    rows: dict[str, int] = field(default_factory=dict)
    """Each usable group's rows the statistic is taken over."""
    note: str = ""
    """What was left out and why ("" when nothing was)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN becomes None."""

        def number(v: float) -> float | None:
            return float(v) if math.isfinite(v) else None

        return {
            "segment": self.segment,
            "measure": self.measure,
            "value": number(self.value),
            "low": number(self.low),
            "high": number(self.high),
            "groups": {g: number(v) for g, v in self.groups.items()},
            "rows": dict(self.rows),
            "note": self.note,
        }


@dataclass(frozen=True)
class Measure:
    """A gap in a share: the share of `among` rows where `event` holds, per group."""

    name: str
    statistic: str
    """What a group's share is, e.g. "true_positive_rate"."""
    columns: tuple[str, ...]
    """The predictions columns it reads."""
    event: Callable[[pd.DataFrame], np.ndarray]
    among: Callable[[pd.DataFrame], np.ndarray] | None = None
    """The rows the share is taken over (None: all rows of the group)."""
    unit: str = "rows"
    """What those rows are, in notes."""

    def counts(self, frame: pd.DataFrame, codes: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
        """(events, rows) per group code, over the rows of `frame` with a group (`codes` >= 0)."""
        keep = codes >= 0
        if self.among is not None:
            keep &= self.among(frame)
        event = self.event(frame)[keep].astype(float)
        rows = np.bincount(codes[keep], minlength=n_groups)
        events = np.bincount(codes[keep], weights=event, minlength=n_groups)
        return events, rows


def _binary(frame: pd.DataFrame, column: str) -> np.ndarray:
    values = frame[column]
    if values.isna().any() or not values.isin([0, 1]).all():
        raise BiasInputError(
            f"predictions column '{column}' must hold 0 or 1 on every row; it holds "
            f"{sorted(map(str, pd.unique(values[~values.isin([0, 1])])))[:5]}: use a binary model's "
            "predictions.parquet"
        )
    return values.to_numpy(dtype=int) == 1


def _known(frame: pd.DataFrame, column: str) -> np.ndarray:
    return frame[column].notna().to_numpy()


MEASURES: dict[str, dict[str, Measure]] = {
    "binary_classification": {
        "demographic_parity_difference": Measure(
            "demographic_parity_difference",
            "predicted_positive_rate",
            ("y_pred",),
            event=lambda f: _binary(f, "y_pred"),
        ),
        "equal_opportunity_difference": Measure(
            "equal_opportunity_difference",
            "true_positive_rate",
            ("y_true", "y_pred"),
            event=lambda f: _binary(f, "y_pred"),
            among=lambda f: _binary(f, "y_true"),
            unit="positive rows",
        ),
    },
    "text_classification": {
        "accuracy_difference": Measure(
            "accuracy_difference",
            "accuracy",
            ("y_true", "y_pred"),
            event=lambda f: (
                (f["y_true"].astype("string") == f["y_pred"].astype("string"))
                .fillna(False)
                .to_numpy(dtype=bool)
            ),
        ),
    },
    "recommendation": {
        "hit_rate_difference": Measure(
            "hit_rate_difference",
            "hit_rate",
            ("hit",),
            event=lambda f: f["hit"].fillna(0).to_numpy(dtype=float) == 1,
            among=lambda f: _known(f, "hit"),
        ),
    },
}
"""Measures by task (`ModelSpec.task`), by name."""


def bias_gaps(
    predictions: pd.DataFrame,
    task: str,
    segments: list[str],
    measures: list[str] | None = None,
    *,
    resamples: int = 500,
    confidence: float = 0.95,
    min_group_rows: int = 30,
    seed: int = 0,
) -> list[BiasGap]:
    """One `BiasGap` per segment and measure (segments outer, in the order given).

    `measures`: names from `MEASURES[task]`; None means all of them. The same `seed` gives the same
    intervals, and each (segment, measure) has its own random stream, so asking for fewer of them does
    not change the others. See the module docstring for the method.
    """
    chosen = _measures(task, measures)
    _check_inputs(predictions, task, segments, chosen, resamples, confidence, min_group_rows)
    tail = (1.0 - confidence) / 2.0
    gaps = []
    for segment in segments:
        values = predictions[segment]
        codes, names = pd.factorize(values.astype("string"), sort=True)
        missing = int(values.isna().sum())
        for measure in chosen:
            events, rows = measure.counts(predictions, codes, len(names))
            usable = rows >= min_group_rows
            shares = events[usable] / rows[usable]
            kept = [str(n) for n in names[usable]]
            notes = []
            if missing:
                notes.append(f"{missing} rows without a value: left out")
            small = [f"'{n}' ({int(r)})" for n, r, ok in zip(names, rows, usable, strict=True) if not ok]
            if small:
                notes.append(
                    f"groups with fewer than {min_group_rows} {measure.unit} left out: {', '.join(small)}"
                )
            value = low = high = math.nan
            if len(kept) < 2:
                notes.append(f"fewer than two groups with at least {min_group_rows} {measure.unit}: no gap")
            else:
                # Two distinct groups even when all shares tie.
                order = np.argsort(shares, kind="stable")
                bottom, top = int(order[0]), int(order[-1])
                value = float(shares[top] - shares[bottom])
                rng = np.random.default_rng(
                    [seed, zlib.crc32(segment.encode()), zlib.crc32(measure.name.encode())]
                )
                n = rows[usable]
                # Stratified resampling on counts: each group keeps its size, its event count is binomial.
                drawn = rng.binomial(n, shares, size=(resamples, len(n))) / n
                replicates = drawn[:, top] - drawn[:, bottom]
                low, high = (float(q) for q in np.quantile(replicates, [tail, 1.0 - tail]))
            gaps.append(
                BiasGap(
                    segment=segment,
                    measure=measure.name,
                    value=value,
                    low=low,
                    high=high,
                    groups=dict(zip(kept, map(float, shares), strict=True)),
                    rows=dict(zip(kept, map(int, rows[usable]), strict=True)),
                    note="; ".join(notes),
                )
            )
    return gaps


def _measures(task: str, names: list[str] | None) -> list[Measure]:
    if task not in MEASURES:
        raise BiasInputError(f"bias gaps: unknown task '{task}'; known tasks: {', '.join(MEASURES)}")
    known = MEASURES[task]
    if names is None:
        return list(known.values())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise BiasInputError(
            f"bias gaps: task '{task}' has no measures {unknown}; its measures: {', '.join(known)}"
        )
    return [known[n] for n in dict.fromkeys(names)]


def _check_inputs(
    predictions: pd.DataFrame,
    task: str,
    segments: list[str],
    measures: list[Measure],
    resamples: int,
    confidence: float,
    min_group_rows: int,
) -> None:
    if resamples < 1 or not 0.0 < confidence < 1.0 or min_group_rows < 1:
        raise BiasInputError(
            f"bias gaps: need resamples >= 1, 0 < confidence < 1 and min_group_rows >= 1; got "
            f"resamples={resamples}, confidence={confidence}, min_group_rows={min_group_rows}"
        )
    if not segments:
        raise BiasInputError("bias gaps: no segments given; pass the spec's evaluation.bias_segments")
    needed = dict.fromkeys([*segments, *(c for m in measures for c in m.columns)])
    missing = [c for c in needed if c not in predictions.columns]
    if missing:
        raise BiasInputError(
            f"bias gaps ({task}): the predictions lack columns {missing}; they have "
            f"{list(predictions.columns)}. A segment must be one of the spec's evaluation.bias_segments "
            "when the version was evaluated"
        )


def load_predictions(evaluation_dir: Path) -> pd.DataFrame:
    """The per-row test predictions saved in a version's evaluation directory."""
    path = Path(evaluation_dir) / PREDICTIONS_FILE
    if not path.is_file():
        raise MissingPredictionsError(
            f"evaluation directory '{evaluation_dir}' has no {PREDICTIONS_FILE}: versions evaluated "
            "before per-row predictions were saved have none, so their bias gaps cannot be measured; "
            "train and evaluate a new version (cxops pipeline run <model>) to get one"
        )
    return pd.read_parquet(path)
