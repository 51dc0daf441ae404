"""Data quality: per-row schema checks and the window-level verdict.

A row that breaks the schema (a feature missing, null where not nullable, outside [min, max], an unknown
category, a value of the wrong type) is counted and left out of the drift test. A window whose invalid
fraction exceeds `quality.max_invalid_fraction`, or in which a feature's null fraction exceeds
`quality.max_null_fraction`, gets the verdict `data_quality`: broken inputs are an upstream bug, not drift.
For text models the one "feature" is the text field, and a row is invalid when its text is missing, null,
empty or not a string.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cxops_drift.spec import Feature, MonitorSpec, QualityLimits

__all__ = [
    "TABULAR_VIOLATIONS",
    "TEXT_VIOLATIONS",
    "CheckedRow",
    "QualityTally",
    "check_row",
    "check_text",
    "normalise_value",
]

TABULAR_VIOLATIONS = ("missing", "null", "out_of_range", "unknown_category", "wrong_type")
TEXT_VIOLATIONS = ("missing", "null", "empty", "wrong_type")
_MISSING = object()


def normalise_value(feature: Feature, value: Any) -> tuple[Any, str | None]:
    """The value as the detector reads it (float, str or None for null) and the violation, if any.

    Categorical values may arrive as integers (a category "0" sent as 0); they are compared as strings.
    NaN counts as null, as pandas writes it.
    """
    if value is _MISSING:
        return None, "missing"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None, None if feature.nullable else "null"
    if feature.numeric:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None, "wrong_type"
        try:
            number = float(value)
        except OverflowError:  # an integer beyond float range
            return None, "wrong_type"
        if math.isinf(number):
            return None, "wrong_type"
        if (feature.min is not None and number < feature.min) or (
            feature.max is not None and number > feature.max
        ):
            return number, "out_of_range"
        return number, None
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None, "wrong_type"
    category = str(value)
    if category not in feature.categories:
        return category, "unknown_category"
    return category, None


@dataclass(frozen=True)
class CheckedRow:
    """One row after the schema checks: normalised values, violations by feature, features that are null."""

    values: dict[str, Any]
    problems: dict[str, str]
    nulls: tuple[str, ...]

    @property
    def valid(self) -> bool:
        return not self.problems


def check_row(spec: MonitorSpec, row: Mapping[str, Any]) -> CheckedRow:
    """Check one request row against the bundle's features."""
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    nulls: list[str] = []
    for feature in spec.features:
        value, problem = normalise_value(feature, row.get(feature.name, _MISSING))
        values[feature.name] = value
        if problem is not None:
            problems[feature.name] = problem
        if problem in (None, "null") and value is None:
            nulls.append(feature.name)
    return CheckedRow(values=values, problems=problems, nulls=tuple(nulls))


def check_text(value: Any, *, present: bool = True) -> str | None:
    """The violation of one text, or None when it can be embedded."""
    if not present:
        return "missing"
    if value is None:
        return "null"
    if not isinstance(value, str):
        return "wrong_type"
    if not value.strip():
        return "empty"
    return None


@dataclass
class QualityTally:
    """Counts of one window's rows, invalid rows, violations and nulls, and the verdict they lead to."""

    names: tuple[str, ...]
    kinds: tuple[str, ...] = TABULAR_VIOLATIONS
    rows: int = 0
    invalid_rows: int = 0
    violations: dict[str, dict[str, int]] = field(default_factory=dict)
    nulls: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.violations = {n: dict.fromkeys(self.kinds, 0) for n in self.names}
        self.nulls = dict.fromkeys(self.names, 0)

    @classmethod
    def for_spec(cls, spec: MonitorSpec) -> QualityTally:
        if spec.kind == "text":
            return cls(names=(spec.text_field or "",), kinds=TEXT_VIOLATIONS)
        return cls(names=tuple(f.name for f in spec.features))

    def add(self, problems: Mapping[str, str], nulls: tuple[str, ...] = ()) -> None:
        """Count one row: its violations by feature and the features it carries as null."""
        self.rows += 1
        if problems:
            self.invalid_rows += 1
        for name, problem in problems.items():
            self.violations[name][problem] += 1
        for name in nulls:
            self.nulls[name] += 1

    @property
    def invalid_fraction(self) -> float:
        return self.invalid_rows / self.rows if self.rows else 0.0

    def null_fraction(self) -> dict[str, float]:
        return {n: (self.nulls[n] / self.rows if self.rows else 0.0) for n in self.names}

    def verdict(self, limits: QualityLimits) -> dict[str, Any]:
        """The `quality` member of a result: failed, the reasons (naming features and numbers) and counts."""
        reasons: list[str] = []
        if self.rows and self.invalid_fraction > limits.max_invalid_fraction:
            worst = sorted(
                (
                    (count, name, kind)
                    for name, kinds in self.violations.items()
                    for kind, count in kinds.items()
                ),
                reverse=True,
            )
            listed = ", ".join(f"{name} {kind} {count}" for count, name, kind in worst[:5] if count)
            reasons.append(
                f"invalid fraction {self.invalid_fraction:.4f} ({self.invalid_rows} of {self.rows} rows) "
                f"exceeds max_invalid_fraction {limits.max_invalid_fraction}; violations: {listed}"
            )
        null_fraction = self.null_fraction()
        for name, fraction in null_fraction.items():
            if fraction > limits.max_null_fraction:
                reasons.append(
                    f"feature '{name}' is null in {fraction:.4f} of rows "
                    f"({self.nulls[name]} of {self.rows}), above max_null_fraction {limits.max_null_fraction}"
                )
        return {
            "failed": bool(reasons),
            "reasons": reasons,
            "invalid_fraction": round(self.invalid_fraction, 6),
            "violations": {n: dict(v) for n, v in self.violations.items()},
            "null_fraction": {n: round(f, 6) for n, f in null_fraction.items()},
        }
