"""The model card: what the model is for, how it was trained, how well and how fairly it works.

Written as Markdown (plots beside it as PNG files), as one self-contained HTML file (plots embedded as
base64 PNG) and as metrics JSON, from the Jinja2 templates in `templates/`.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cxops.evaluation.bias import GROUP_METRICS
from cxops.evaluation.report import EvaluationReport, _json_safe
from cxops.specs import ModelSpec

__all__ = ["BIAS_GAP_NOTICE", "ModelCardFiles", "limitations", "write_model_card"]

BIAS_GAP_NOTICE = 0.10
"""A gap between groups (parity, opportunity, odds) above this is called out under limitations."""
_ECE_NOTICE = 0.05
_TEMPLATES = Path(__file__).parent / "templates"
_PLOTS = {"roc": "ROC curve", "lift": "Lift by decile", "calibration": "Calibration"}


@dataclass(frozen=True)
class ModelCardFiles:
    markdown: Path
    html: Path
    metrics_json: Path
    plots: dict[str, Path] = field(default_factory=dict)

    def all(self) -> list[Path]:
        return [self.markdown, self.html, self.metrics_json, *self.plots.values()]


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "n/a"
        return f"{value:.{digits}f}"
    return str(value)


def limitations(
    report: EvaluationReport, spec: ModelSpec, training: dict[str, Any] | None = None
) -> list[str]:
    """Plain-language caveats read off the evaluation itself (not boilerplate)."""
    rows = int(report.metrics["rows"])
    positives = report.confusion["tp"] + report.confusion["fn"]
    recall = report.metrics["recall"]
    margin = 1.96 * math.sqrt(recall * (1 - recall) / positives) if positives else float("nan")
    notes = [
        f"Evaluated on {rows} held-out rows ({positives} positive): recall is known to about "
        f"±{_fmt(margin, 2)} (95%), and per-group figures less precisely still."
    ]
    for check in report.failed_checks:
        word = "at least" if check.direction == "min" else "at most"
        notes.append(
            f"Release threshold not met: {check.metric} is {_fmt(check.value)}, it must be {word} "
            f"{_fmt(check.bound)}."
        )
    inputs = set(spec.features.names)
    used = [s for s in spec.evaluation.bias_segments if s in inputs]
    if used:
        notes.append(
            f"The bias segments {used} are also model inputs: the model uses them directly, so gaps "
            f"between their groups are partly by design and need a documented justification."
        )
    for name, seg in report.segments.items():
        gaps = {
            "demographic parity": seg.demographic_parity_difference,
            "equal opportunity (recall)": seg.equal_opportunity_difference,
            "equalized odds": seg.equalized_odds_difference,
        }
        wide = [f"{k} {v:.3f}" for k, v in gaps.items() if math.isfinite(v) and v > BIAS_GAP_NOTICE]
        if wide:
            notes.append(
                f"By {name}, the gap between groups exceeds {BIAS_GAP_NOTICE:.2f}: {', '.join(wide)}."
            )
        notes.extend(f"By {name}: {note}." for note in seg.notes)
    ece = report.metrics.get("expected_calibration_error", float("nan"))
    if math.isfinite(ece) and ece > _ECE_NOTICE:
        why = ""
        if float((training or {}).get("params", {}).get("scale_pos_weight", 1.0)) != 1.0:
            why = " Training up-weights the positive class (scale_pos_weight), which inflates scores."
        notes.append(
            f"Scores are not calibrated probabilities (expected calibration error {ece:.3f}); use them "
            f"to rank, and the decision threshold to act.{why}"
        )
    notes.append(
        f"Measured only on the segments {spec.evaluation.bias_segments}; other groups were not checked."
    )
    return notes


def _environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(str(_TEMPLATES)),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2")),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["fmt"] = _fmt
    env.filters["pct"] = lambda v: "n/a" if v is None or not math.isfinite(v) else f"{v:.1%}"
    return env


def _as_dict(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return dict(value)


def write_model_card(
    report: EvaluationReport,
    spec: ModelSpec,
    out_dir: Path,
    *,
    version: int | str | None = None,
    lineage: dict[str, Any] | None = None,
    training: Any = None,
) -> ModelCardFiles:
    """Write `model_card.md`, `model_card.html`, `metrics.json` and `plots/*.png` into `out_dir`.

    `training` is a `TrainingResult` or its `to_dict()`; `lineage` any JSON-ready mapping (dataset
    snapshot, feature service, code version, who trained it).
    """
    from cxops.evaluation import _plots

    out = Path(out_dir)
    plots_dir = out / "plots"
    plots_dir.mkdir(parents=True, exist_ok=True)
    training_dict = _json_safe(_as_dict(training)) if training is not None else None
    lineage_dict = _json_safe(dict(lineage)) if lineage else None

    images: dict[str, tuple[str, bytes]] = {
        "roc": (_PLOTS["roc"], _plots.roc_png(report)),
        "lift": (_PLOTS["lift"], _plots.lift_png(report)),
        "calibration": (_PLOTS["calibration"], _plots.calibration_png(report)),
    }
    for segment in report.segments:
        images[f"segment_{segment}"] = (f"By {segment}", _plots.segment_png(report, segment))
    plot_paths: dict[str, Path] = {}
    for key, (_, png) in images.items():
        path = plots_dir / f"{key}.png"
        path.write_bytes(png)
        plot_paths[key] = path

    data = report.to_dict()
    context = {
        "spec": spec,
        "version": version,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "report": data,
        "metric_rows": _metric_rows(data["metrics"]),
        # The card's segment tables leave out the two columns that say least per group.
        "segment_columns": [m for m in GROUP_METRICS if m not in ("accuracy", "expected_calibration_error")],
        "training": training_dict,
        "lineage": lineage_dict,
        "limitations": limitations(report, spec, training_dict),
        "plots_md": {key: (title, f"plots/{key}.png") for key, (title, _) in images.items()},
        "plots_html": {
            key: (title, base64.b64encode(png).decode("ascii")) for key, (title, png) in images.items()
        },
    }
    env = _environment()
    markdown = out / "model_card.md"
    markdown.write_text(env.get_template("model_card.md.j2").render(**context))
    html = out / "model_card.html"
    html.write_text(env.get_template("model_card.html.j2").render(**context))
    metrics_json = out / "metrics.json"
    metrics_json.write_text(
        json.dumps(
            {"model_name": spec.name, "version": version, "evaluation": data, "training": training_dict},
            indent=2,
            allow_nan=False,
        )
    )
    return ModelCardFiles(markdown=markdown, html=html, metrics_json=metrics_json, plots=plot_paths)


_METRIC_LABELS = [
    ("roc_auc", "ROC-AUC"),
    ("pr_auc", "PR-AUC (average precision)"),
    ("precision", "Precision"),
    ("recall", "Recall"),
    ("f1", "F1"),
    ("f2", "F2"),
    ("accuracy", "Accuracy"),
    ("false_positive_rate", "False-positive rate"),
    ("lift_top_decile", "Lift in the top decile"),
    ("brier_score", "Brier score"),
    ("expected_calibration_error", "Expected calibration error"),
    ("log_loss", "Log loss"),
    ("positive_rate", "Positive rate (actual)"),
    ("predicted_positive_rate", "Share called positive"),
]


def _metric_rows(metrics: dict[str, Any]) -> list[tuple[str, str, Any]]:
    return [(key, label, metrics.get(key)) for key, label in _METRIC_LABELS if key in metrics]
