"""The drift reference of a model version: a sample of its training inputs and the detector's settings.

Training writes it beside the model (`<model dir>/drift/`), so registration copies it with the version's
artifacts; the drift monitor (`cxops_drift`, its own environment) fits its detector on it. The bundle is
plain JSON and CSV because the monitor cannot read the platform's pydantic-2 specs: `monitor.json` carries
everything the detector and the data-quality checks need (format in docs/drift-monitor.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from cxops.canary.events import ID_FIELDS
from cxops.errors import InvalidInputError
from cxops.specs import ModelSpec

__all__ = ["BUNDLE_DIR", "BUNDLE_FILE", "REFERENCE_FILE", "bundle_settings", "write_drift_reference"]

BUNDLE_DIR = "drift"
BUNDLE_FILE = "monitor.json"
REFERENCE_FILE = "reference.csv"
FORMAT = 1
_NUMERIC = ("integer", "number")


def _feature(column: Any) -> dict[str, Any]:
    if column.type in _NUMERIC:
        return {
            "name": column.name,
            "type": "numeric",
            "min": column.min,
            "max": column.max,
            "nullable": bool(column.nullable),
        }
    if column.type == "category":
        return {
            "name": column.name,
            "type": "categorical",
            "categories": [str(c) for c in column.categories or []],
            "nullable": bool(column.nullable),
        }
    raise InvalidInputError(
        f"input '{column.name}' has type '{column.type}', which a tabular drift detector cannot watch; "
        "leave it out of monitoring.features"
    )


def bundle_settings(spec: ModelSpec, reference_rows: int) -> dict[str, Any]:
    """The `monitor.json` of `spec` (without the version: the monitor is told it when it loads the bundle)."""
    monitoring = spec.monitoring
    settings: dict[str, Any] = {
        "format": FORMAT,
        "model": spec.name,
        "kind": "text" if spec.text is not None else "tabular",
        "detector": monitoring.detector,
        "p_value": monitoring.p_value,
        "window_size": monitoring.window_size,
        "min_window": monitoring.min_window,
        "quality": monitoring.quality.model_dump(),
        "id_fields": sorted(ID_FIELDS),
        "reference": REFERENCE_FILE,
        "reference_rows": reference_rows,
    }
    if spec.text is not None:
        settings |= {
            "text_field": spec.text.column,
            "encoder": spec.trainer.encoder,
            "components": monitoring.components,
        }
    else:
        watched = set(monitoring.features or spec.input_names)
        settings["features"] = [_feature(c) for c in spec.inputs if c.name in watched]
    return settings


def write_drift_reference(
    spec: ModelSpec, frame: pd.DataFrame, directory: Path, *, seed: int = 0
) -> Path | None:
    """Write `monitor.json` and a seeded sample of `frame`'s watched inputs to `directory`.

    Returns the directory, or None when the spec watches nothing (`monitoring.detector: none`).
    """
    if spec.monitoring.detector == "none":
        return None
    settings = bundle_settings(spec, 0)
    columns = [settings["text_field"]] if spec.text is not None else [f["name"] for f in settings["features"]]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"model '{spec.name}': the training frame lacks the watched inputs {missing}; "
            "the drift reference cannot be written"
        )
    rows = min(spec.monitoring.reference_rows, len(frame))
    sample = frame[columns].sample(n=rows, random_state=seed) if rows < len(frame) else frame[columns]
    sample = sample.copy()
    for feature in settings.get("features", []):
        if feature["type"] == "categorical":  # categories travel as their string values
            values = sample[feature["name"]]
            sample[feature["name"]] = (
                values.astype(object).where(values.notna(), None).map(lambda v: None if v is None else str(v))
            )
    settings["reference_rows"] = len(sample)
    directory.mkdir(parents=True, exist_ok=True)
    sample.to_csv(directory / REFERENCE_FILE, index=False)
    (directory / BUNDLE_FILE).write_text(json.dumps(settings, indent=2) + "\n")
    return directory
