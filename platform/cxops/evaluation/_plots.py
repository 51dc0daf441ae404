"""The model card's plots as PNG bytes, drawn on matplotlib's Agg canvas (no display, no pyplot state)."""

from __future__ import annotations

import io
import math

from cxops.evaluation.report import EvaluationReport, TextEvaluationReport

__all__ = [
    "CONFUSION_PLOT_MAX_CLASSES",
    "calibration_png",
    "confusion_png",
    "lift_png",
    "roc_png",
    "segment_png",
    "text_calibration_png",
    "text_segment_png",
]

CONFUSION_PLOT_MAX_CLASSES = 20
"""Above this many classes a confusion heatmap is unreadable; the card's top-confusions table remains."""

_SIZE = (5.0, 3.6)
_DPI = 100


def _figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=_SIZE, dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def roc_png(report: EvaluationReport) -> bytes:
    fig = _figure()
    ax = fig.add_subplot()
    auc = report.metrics.get("roc_auc", float("nan"))
    ax.plot(report.roc["fpr"], report.roc["tpr"], color="#1f77b4", label=f"model (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    ax.set(
        xlabel="false-positive rate",
        ylabel="true-positive rate (recall)",
        title="ROC curve",
        xlim=(0, 1),
        ylim=(0, 1.01),
    )
    ax.legend(loc="lower right")
    return _png(fig)


def lift_png(report: EvaluationReport) -> bytes:
    fig = _figure()
    ax = fig.add_subplot()
    groups = [row["group"] for row in report.lift]
    ax.bar(groups, [row["lift"] for row in report.lift], color="#2ca02c")
    ax.axhline(1.0, linestyle="--", color="grey")
    ax.set(xlabel="score decile (1 = highest scores)", ylabel="lift over base rate", title="Lift by decile")
    ax.set_xticks(groups)
    return _png(fig)


def calibration_png(report: EvaluationReport) -> bytes:
    fig = _figure()
    ax = fig.add_subplot()
    used = [b for b in report.reliability if b["count"] > 0]
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    ax.plot(
        [b["mean_predicted"] for b in used],
        [b["observed_rate"] for b in used],
        marker="o",
        color="#d62728",
        label=f"model (ECE {report.metrics.get('expected_calibration_error', math.nan):.3f})",
    )
    ax.set(
        xlabel="mean predicted score",
        ylabel="observed positive rate",
        title="Calibration (reliability)",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend(loc="upper left")
    return _png(fig)


def segment_png(report: EvaluationReport, segment: str) -> bytes:
    """Recall, precision and share called positive for each group of one segment."""
    import numpy as np

    seg = report.segments[segment]
    fig = _figure()
    ax = fig.add_subplot()
    names = [str(g["group"]) for g in seg.groups]
    x = np.arange(len(names))
    width = 0.26
    for i, (metric, label, color) in enumerate(
        [
            ("recall", "recall", "#1f77b4"),
            ("precision", "precision", "#ff7f0e"),
            ("predicted_positive_rate", "called positive", "#7f7f7f"),
        ]
    ):
        values = [0.0 if g[metric] is None or math.isnan(g[metric]) else g[metric] for g in seg.groups]
        ax.bar(x + (i - 1) * width, values, width, label=label, color=color)
    ax.set_xticks(x, names)
    ax.set(ylim=(0, 1.2), ylabel="rate", title=f"By {segment}")
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.legend(loc="upper center", ncols=3, fontsize="small")
    return _png(fig)


def text_calibration_png(report: TextEvaluationReport) -> bytes:
    """Accuracy of the top label against the model's confidence in it, per confidence bin."""
    fig = _figure()
    ax = fig.add_subplot()
    used = [b for b in report.reliability if b["count"] > 0]
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    ax.plot(
        [b["mean_confidence"] for b in used],
        [b["accuracy"] for b in used],
        marker="o",
        color="#d62728",
        label=f"model (ECE {report.metrics.get('expected_calibration_error', math.nan):.3f})",
    )
    ax.set(
        xlabel="confidence in the predicted class",
        ylabel="share predicted correctly",
        title="Calibration (top label)",
        xlim=(0, 1),
        ylim=(0, 1.02),
    )
    ax.legend(loc="upper left")
    return _png(fig)


def confusion_png(report: TextEvaluationReport) -> bytes:
    """Row-normalised confusion matrix (each true class's row sums to one)."""
    import numpy as np

    matrix = np.asarray(report.confusion_matrix, dtype=float)
    support = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, support, out=np.zeros_like(matrix), where=support > 0)
    k = len(report.classes)
    fig = _figure()
    fig.set_size_inches(max(_SIZE[0], 0.45 * k + 2.5), max(_SIZE[1], 0.4 * k + 2.0))
    ax = fig.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(k), report.classes, rotation=60, ha="right", fontsize="small")
    ax.set_yticks(range(k), report.classes, fontsize="small")
    ax.set(xlabel="predicted class", ylabel="true class", title="Confusion matrix (share of true class)")
    if k <= 12:
        for i in range(k):
            for j in range(k):
                if matrix[i, j]:
                    colour = "white" if shares[i, j] > 0.5 else "black"
                    ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=7, color=colour)
    fig.colorbar(image, ax=ax, shrink=0.8)
    return _png(fig)


def text_segment_png(report: TextEvaluationReport, segment: str) -> bytes:
    """Accuracy and macro-F1 for each measured group of one segment."""
    import numpy as np

    seg = report.segments[segment]
    fig = _figure()
    ax = fig.add_subplot()
    names = [str(g["group"]) for g in seg.groups]
    x = np.arange(len(names))
    width = 0.38
    for i, (metric, label, color) in enumerate(
        [("accuracy", "accuracy", "#1f77b4"), ("macro_f1", "macro-F1", "#ff7f0e")]
    ):
        values = [0.0 if g[metric] is None or math.isnan(g[metric]) else g[metric] for g in seg.groups]
        ax.bar(x + (i - 0.5) * width, values, width, label=label, color=color)
    ax.set_xticks(x, names)
    ax.set(ylim=(0, 1.2), ylabel="score", title=f"By {segment}")
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.legend(loc="upper center", ncols=2, fontsize="small")
    return _png(fig)
