"""The model card: what the model is for, how it was trained, how well and how fairly it works.

Written as Markdown (plots beside it as PNG files), as one self-contained HTML file (plots embedded as
base64 PNG) and as metrics JSON, from the Jinja2 templates in `templates/`. Binary (tabular) models and
multi-class text models have their own templates: a text card shows per-class scores (weakest first),
the most frequent confusions, calibration of the top label, bias by segment and the comparison with the
TF-IDF baseline.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cxops.evaluation.baseline import BASELINE_NAME
from cxops.evaluation.bias import GROUP_METRICS
from cxops.evaluation.report import EvaluationReport, TextEvaluationReport, _json_safe
from cxops.specs import ModelSpec

__all__ = [
    "BASELINE_WARNING",
    "BIAS_GAP_NOTICE",
    "ModelCardFiles",
    "limitations",
    "text_limitations",
    "write_model_card",
]

BASELINE_WARNING = f"This candidate does not beat the {BASELINE_NAME}"
"""The line a text model's card carries, prominently, when its macro-F1 is not above the baseline's."""

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
    report: EvaluationReport | TextEvaluationReport,
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

    if isinstance(report, TextEvaluationReport):
        images: dict[str, tuple[str, bytes]] = {
            "calibration": ("Calibration (top label)", _plots.text_calibration_png(report))
        }
        if len(report.classes) <= _plots.CONFUSION_PLOT_MAX_CLASSES:
            images["confusion"] = ("Confusion matrix", _plots.confusion_png(report))
        for segment in report.segments:
            images[f"segment_{segment}"] = (f"By {segment}", _plots.text_segment_png(report, segment))
    else:
        images = {
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
        "training": training_dict,
        "lineage": lineage_dict,
        "plots_md": {key: (title, f"plots/{key}.png") for key, (title, _) in images.items()},
        "plots_html": {
            key: (title, base64.b64encode(png).decode("ascii")) for key, (title, png) in images.items()
        },
    }
    if isinstance(report, TextEvaluationReport):
        stem = "model_card_text"
        context.update(_text_context(report, spec, data, training_dict))
    else:
        stem = "model_card"
        context.update(
            {
                "metric_rows": _metric_rows(data["metrics"]),
                # The card's segment tables leave out the two columns that say least per group.
                "segment_columns": [
                    m for m in GROUP_METRICS if m not in ("accuracy", "expected_calibration_error")
                ],
                "limitations": limitations(report, spec, training_dict),
            }
        )
    env = _environment()
    markdown = out / "model_card.md"
    markdown.write_text(env.get_template(f"{stem}.md.j2").render(**context))
    html = out / "model_card.html"
    html.write_text(env.get_template(f"{stem}.html.j2").render(**context))
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


_TEXT_METRIC_LABELS = [
    ("accuracy", "Accuracy"),
    ("macro_f1", "Macro-F1"),
    ("weighted_f1", "Weighted F1"),
    ("macro_precision", "Macro precision"),
    ("macro_recall", "Macro recall"),
    ("min_class_f1", "Lowest per-class F1"),
    ("log_loss", "Log loss"),
    ("expected_calibration_error", "Expected calibration error (top label)"),
    ("brier_score", "Brier score (multi-class)"),
]
_BASELINE_ROWS = [
    ("accuracy", "Accuracy"),
    ("macro_f1", "Macro-F1"),
    ("weighted_f1", "Weighted F1"),
    ("log_loss", "Log loss"),
    ("expected_calibration_error", "Expected calibration error"),
]
_SMALL_CLASS_ROWS = 20
_WEAK_CLASS_F1 = 0.5


def text_limitations(
    report: TextEvaluationReport, spec: ModelSpec, training: dict[str, Any] | None = None
) -> list[str]:
    """Plain-language caveats of a text model, read off its evaluation."""
    rows = int(report.metrics["rows"])
    accuracy = float(report.metrics["accuracy"])
    margin = 1.96 * math.sqrt(accuracy * (1 - accuracy) / rows)
    small = [c for c in report.per_class if 0 < c["support"] < _SMALL_CLASS_ROWS]
    note = (
        f"Evaluated on {rows} held-out messages in {len(report.classes)} classes: accuracy is known to "
        f"about ±{_fmt(margin, 3)} (95%)"
    )
    if small:
        few = "1 class has" if len(small) == 1 else f"{len(small)} classes have"
        note += f"; {few} fewer than {_SMALL_CLASS_ROWS} test messages, so per-class scores there are rough"
    notes = [note + "."]
    for check in report.failed_checks:
        word = "at least" if check.direction == "min" else "at most"
        notes.append(
            f"Release threshold not met: {check.metric} is {_fmt(check.value)}, it must be {word} "
            f"{_fmt(check.bound)}."
        )
    weak = sorted(
        (c for c in report.per_class if c["support"] and c["f1"] < _WEAK_CLASS_F1), key=lambda c: c["f1"]
    )
    if weak:
        shown = ", ".join(f"{c['class']} ({c['f1']:.2f})" for c in weak[:5])
        more = f" and {len(weak) - 5} more" if len(weak) > 5 else ""
        notes.append(f"Classes with F1 below {_WEAK_CLASS_F1:.1f}: {shown}{more}; route them to a person.")
    for name, seg in report.segments.items():
        if math.isfinite(seg.macro_f1_gap) and seg.macro_f1_gap > BIAS_GAP_NOTICE:
            notes.append(
                f"By {name}, macro-F1 differs by {seg.macro_f1_gap:.3f} between groups (accuracy by "
                f"{_fmt(seg.accuracy_gap)}); the weakest group is {seg.worst_group}."
            )
        notes.extend(f"By {name}: {n}." for n in seg.notes)
    for name, why in report.unmeasured_segments.items():
        notes.append(f"Segment {name} was not measured: {why}.")
    ece = float(report.metrics.get("expected_calibration_error", float("nan")))
    if math.isfinite(ece) and ece > _ECE_NOTICE:
        notes.append(
            f"Confidence is not a calibrated probability (expected calibration error {ece:.3f}): a "
            "confidence cut-off for routing to people needs tuning on held-out messages."
        )
    if spec.text is not None:
        notes.append(
            f"Built and evaluated for the languages {', '.join(spec.text.languages)}; messages in other "
            "languages were not checked."
        )
    notes.append(
        f"Bias measured only on the segments {', '.join(spec.evaluation.bias_segments) or 'none'}; other "
        "groups were not checked."
    )
    return notes


def _training_rows(training: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The training table, from whichever keys the training summary holds."""
    if not training:
        return []

    def join(mapping: Any, digits: int = 3) -> str:
        if not isinstance(mapping, dict):
            return _fmt(mapping)
        return ", ".join(f"{k} {_fmt(v, digits)}" for k, v in mapping.items())

    rows = []
    if training.get("mode"):
        encoder = training.get("encoder")
        rows.append(("Mode", str(training["mode"]).replace("_", " ") + (f" ({encoder})" if encoder else "")))
    ray = training.get("ray") or {}
    if ray:
        rows.append(
            (
                "Backend",
                f"{ray.get('backend', 'n/a')} ({ray.get('num_workers', 'n/a')} worker(s), device "
                f"{ray.get('device', 'n/a')}, GPU requested: {_fmt(ray.get('use_gpu_requested'))}, "
                f"used: {_fmt(ray.get('use_gpu'))})",
            )
        )
    if isinstance(training.get("rows"), dict):
        rows.append(("Rows", join(training["rows"])))
    if training.get("validation"):
        rows.append(("Validation", join(training["validation"])))
    if training.get("durations"):
        rows.append(("Durations (s)", join(training["durations"], 1)))
    if training.get("params"):
        rows.append(("Parameters", ", ".join(f"{k}={v}" for k, v in training["params"].items())))
    return rows


def _text_context(
    report: TextEvaluationReport, spec: ModelSpec, data: dict[str, Any], training: dict[str, Any] | None
) -> dict[str, Any]:
    # Weakest classes first: they are what a reviewer needs to see; classes absent from the test rows last.
    per_class = sorted(data["per_class"], key=lambda c: (c["support"] == 0, c["f1"], c["class"]))
    baseline = data["baseline"]
    comparison = []
    if baseline is not None:
        for key, label in _BASELINE_ROWS:
            candidate, base = data["metrics"].get(key), baseline["metrics"].get(key)
            diff = candidate - base if candidate is not None and base is not None else None
            comparison.append((label, candidate, base, diff))
    return {
        "metric_rows": [(k, label, data["metrics"].get(k)) for k, label in _TEXT_METRIC_LABELS],
        "per_class": per_class,
        "baseline": baseline,
        "baseline_rows": comparison,
        "baseline_name": BASELINE_NAME,
        "baseline_warning": BASELINE_WARNING if report.beats_baseline is False else None,
        "training_rows": _training_rows(training),
        "limitations": text_limitations(report, spec, training),
    }
