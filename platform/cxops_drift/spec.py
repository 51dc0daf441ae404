"""The settings of a drift reference bundle (`monitor.json`, format 1), parsed and checked.

The main environment writes the file (`cxops.monitoring.reference`); this side cannot share its pydantic-2
models, so the format is checked here by hand, strictly: an unknown key is refused (it is a typo or a newer
format), and every message names the bundle, the key and what a valid value looks like.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

from cxops_drift.errors import InvalidError

__all__ = [
    "DETECTORS",
    "ENCODERS",
    "FORMAT",
    "NAME_PATTERN",
    "Feature",
    "MonitorSpec",
    "QualityLimits",
    "parse_spec",
]

FORMAT = 1
# Detectors each kind of model may ask for.
DETECTORS = {"tabular": ("tabular", "mmd", "ks"), "text": ("mmd", "ks")}
# Encoders the monitor can load offline, by the name a bundle uses.
ENCODERS = ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")
# Model names and versions become directory names under the state directory.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

_COMMON_KEYS = {
    "format",
    "model",
    "kind",
    "detector",
    "p_value",
    "window_size",
    "min_window",
    "quality",
    "id_fields",
    "reference",
    "reference_rows",
}
_TABULAR_KEYS = _COMMON_KEYS | {"features"}
_TEXT_KEYS = _COMMON_KEYS | {"text_field", "encoder", "components"}
_FEATURE_KEYS = {
    "numeric": {"name", "type", "min", "max", "nullable"},
    "categorical": {"name", "type", "categories", "nullable"},
}


@dataclass(frozen=True)
class Feature:
    """One watched model input: numeric (optionally bounded) or categorical (a closed set of strings)."""

    name: str
    type: str  # "numeric" | "categorical"
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] = ()

    @property
    def numeric(self) -> bool:
        return self.type == "numeric"


@dataclass(frozen=True)
class QualityLimits:
    """Above these fractions a window's verdict is `data_quality` instead of a drift test result."""

    max_invalid_fraction: float = 0.05
    max_null_fraction: float = 0.2


@dataclass(frozen=True)
class MonitorSpec:
    """Everything the detector and the data-quality checks of one model need."""

    model: str
    kind: str  # "tabular" | "text"
    detector: str
    p_value: float
    window_size: int
    min_window: int
    quality: QualityLimits
    id_fields: tuple[str, ...]
    reference: str
    reference_rows: int
    features: tuple[Feature, ...] = ()
    text_field: str | None = None
    encoder: str | None = None
    components: int | None = None

    @property
    def columns(self) -> list[str]:
        """The reference CSV's columns: the features, or the text field."""
        return [self.text_field or ""] if self.kind == "text" else [f.name for f in self.features]

    def to_dict(self) -> dict[str, Any]:
        """The `monitor.json` form (what `parse_spec` reads back)."""
        out: dict[str, Any] = {"format": FORMAT}
        for key, value in asdict(self).items():
            if value is None:
                continue
            out[key] = value
        out["id_fields"] = list(self.id_fields)
        if self.kind == "text":
            out.pop("features", None)
        else:
            out["features"] = [_feature_dict(f) for f in self.features]
        return out


def _feature_dict(feature: Feature) -> dict[str, Any]:
    out: dict[str, Any] = {"name": feature.name, "type": feature.type, "nullable": feature.nullable}
    if feature.numeric:
        out |= {"min": feature.min, "max": feature.max}
    else:
        out["categories"] = list(feature.categories)
    return out


class _Checker:
    """Collects the problems of one `monitor.json` so that all of them are reported at once."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.problems: list[str] = []

    def fail(self, message: str) -> None:
        self.problems.append(message)

    def raise_if_any(self) -> None:
        if self.problems:
            listed = "; ".join(self.problems)
            raise InvalidError(
                f"{self.where} is not a valid drift bundle: {listed}; rewrite it with the platform"
            )

    def number(
        self, data: dict[str, Any], key: str, *, low: float, high: float, default: Any = None
    ) -> float:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.fail(f"'{key}' must be a number in [{low}, {high}], got {value!r}")
            return low
        if not low <= value <= high:
            self.fail(f"'{key}' must be in [{low}, {high}], got {value}")
        return float(value)

    def integer(self, data: dict[str, Any], key: str, *, low: int, default: Any = None) -> int:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"'{key}' must be an integer >= {low}, got {value!r}")
            return low
        if value < low:
            self.fail(f"'{key}' must be >= {low}, got {value}")
        return value

    def text(self, data: dict[str, Any], key: str, choices: tuple[str, ...] | None = None) -> str:
        value = data.get(key)
        if not isinstance(value, str) or not value:
            self.fail(f"'{key}' must be a non-empty string, got {value!r}")
            return ""
        if choices is not None and value not in choices:
            self.fail(f"'{key}' is {value!r}; expected one of {list(choices)}")
        return value

    def unknown_keys(self, data: dict[str, Any], known: set[str], scope: str) -> None:
        unknown = sorted(set(data) - known)
        if unknown:
            self.fail(f"{scope} has unknown keys {unknown} (known: {sorted(known)})")


def _parse_feature(check: _Checker, index: int, raw: Any) -> Feature | None:
    scope = f"features[{index}]"
    if not isinstance(raw, dict):
        check.fail(f"{scope} must be an object, got {raw!r}")
        return None
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        check.fail(f"{scope} needs a non-empty 'name'")
        return None
    scope = f"feature '{name}'"
    kind = raw.get("type")
    if kind not in _FEATURE_KEYS:
        check.fail(f"{scope} has type {kind!r}; expected 'numeric' or 'categorical'")
        return None
    check.unknown_keys(raw, _FEATURE_KEYS[kind], scope)
    nullable = raw.get("nullable", False)
    if not isinstance(nullable, bool):
        check.fail(f"{scope}: 'nullable' must be true or false, got {nullable!r}")
        nullable = False
    if kind == "numeric":
        bounds = []
        for key in ("min", "max"):
            value = raw.get(key)
            ok = value is None or (
                isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            )
            if not ok:
                check.fail(f"{scope}: '{key}' must be a number or null, got {value!r}")
            bounds.append(float(value) if ok and value is not None else None)
        low, high = bounds
        if low is not None and high is not None and low > high:
            check.fail(f"{scope}: min {low} is above max {high}")
        return Feature(name=name, type=kind, nullable=nullable, min=low, max=high)
    categories = raw.get("categories")
    if (
        not isinstance(categories, list)
        or not categories
        or not all(isinstance(c, str) for c in categories)
        or len(set(categories)) != len(categories)
    ):
        check.fail(f"{scope}: 'categories' must be a non-empty list of distinct strings, got {categories!r}")
        return None
    return Feature(name=name, type=kind, nullable=nullable, categories=tuple(categories))


def parse_spec(data: Any, where: str = "monitor.json") -> MonitorSpec:
    """Check a parsed `monitor.json` and return its settings; `where` names the file in messages.

    Raises InvalidError listing every problem found.
    """
    check = _Checker(where)
    if not isinstance(data, dict):
        check.fail(f"the top level must be a JSON object, got {type(data).__name__}")
        check.raise_if_any()
    if data.get("format") != FORMAT:
        check.fail(f"'format' is {data.get('format')!r}; this monitor reads format {FORMAT}")
        check.raise_if_any()
    model = check.text(data, "model")
    if model and not NAME_PATTERN.match(model):
        check.fail(f"'model' {model!r} must be letters, digits, '.', '_' or '-' (at most 128)")
    kind = check.text(data, "kind", ("tabular", "text"))
    check.unknown_keys(data, _TEXT_KEYS if kind == "text" else _TABULAR_KEYS, "the bundle")
    detector = check.text(data, "detector", DETECTORS.get(kind, ("tabular", "mmd", "ks")))
    p_value = check.number(data, "p_value", low=1e-9, high=0.5)
    window_size = check.integer(data, "window_size", low=10)
    min_window = check.integer(data, "min_window", low=10)
    if min_window > window_size:
        check.fail(f"'min_window' {min_window} is above 'window_size' {window_size}")
    raw_quality = data.get("quality", {})
    if not isinstance(raw_quality, dict):
        check.fail(f"'quality' must be an object, got {raw_quality!r}")
        raw_quality = {}
    check.unknown_keys(raw_quality, {"max_invalid_fraction", "max_null_fraction"}, "'quality'")
    quality = QualityLimits(
        max_invalid_fraction=check.number(
            raw_quality, "max_invalid_fraction", low=0.0, high=1.0, default=0.05
        ),
        max_null_fraction=check.number(raw_quality, "max_null_fraction", low=0.0, high=1.0, default=0.2),
    )
    id_fields = data.get("id_fields", [])
    if not isinstance(id_fields, list) or not all(isinstance(f, str) and f for f in id_fields):
        check.fail(f"'id_fields' must be a list of field names, got {id_fields!r}")
        id_fields = []
    reference = data.get("reference", "reference.csv")
    if not isinstance(reference, str) or not reference or "/" in reference or reference.startswith("."):
        check.fail(f"'reference' must be a file name inside the bundle, got {reference!r}")
    reference_rows = check.integer(data, "reference_rows", low=10)
    features: list[Feature] = []
    text_field = encoder = components = None
    if kind == "tabular":
        raw_features = data.get("features")
        if not isinstance(raw_features, list) or not raw_features:
            check.fail("a tabular bundle needs a non-empty 'features' list")
            raw_features = []
        for index, raw in enumerate(raw_features):
            feature = _parse_feature(check, index, raw)
            if feature is not None:
                features.append(feature)
        names = [f.name for f in features]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            check.fail(f"features {repeated} are listed more than once")
        clashes = sorted(set(names) & set(id_fields))
        if clashes:
            check.fail(f"features {clashes} are also id_fields; an id field is not a model input")
    elif kind == "text":
        text_field = check.text(data, "text_field")
        encoder = check.text(data, "encoder", ENCODERS)
        components = check.integer(data, "components", low=1)
        if components > 384:
            check.fail(f"'components' {components} is above the encoder's 384 dimensions")
    check.raise_if_any()
    return MonitorSpec(
        model=model,
        kind=kind,
        detector=detector,
        p_value=p_value,
        window_size=window_size,
        min_window=min_window,
        quality=quality,
        id_fields=tuple(id_fields),
        reference=reference,
        reference_rows=reference_rows,
        features=tuple(features),
        text_field=text_field,
        encoder=encoder,
        components=components,
    )
