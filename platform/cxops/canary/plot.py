"""The canary report's plot: each check window by window, candidate against stable, with the traffic
share of each step shaded behind and every window's verdict marked (matplotlib's Agg canvas, no display)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["plot_canary"]

_PANELS = (
    ("error_rate", "error rate", "sides"),
    ("p95_latency", "p95 latency (ms)", "sides"),
    ("prediction_drift", "prediction drift", "statistic"),
    ("model_metric", "model metric", "sides"),
)
_VERDICT_COLOURS = {"pass": "#2ca02c", "wait": "#7f7f7f", "fail": "#d62728"}


def _value(check: dict[str, Any], key: str) -> float:
    value = check.get(key)
    return float("nan") if value is None else float(value)


def plot_canary(record: Any, path: Path) -> Path:
    """Draw the evidence of a canary record (`cxops.canary.service.CanaryRecord`) to a PNG at `path`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    windows = list(enumerate(record.evidence, start=1))
    ran = {check.get("name") for _, evidence in windows for check in evidence.get("checks", [])}
    shown = [panel for panel in _PANELS if panel[0] in ran]
    fig = Figure(figsize=(8.0, 2.2 * max(len(shown), 1) + 0.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(
        f"{record.deployment_id}: v{record.candidate_version} against v{record.stable_version} "
        f"({record.status})"
    )
    axes = fig.subplots(max(len(shown), 1), 1, sharex=True, squeeze=False)[:, 0]
    if not shown:
        axes[0].text(0.5, 0.5, "no window analysed yet", ha="center", va="center")
        axes[0].set_axis_off()
    for ax, (name, title, kind) in zip(axes, shown, strict=False):
        _shade_steps(ax, windows, label=ax is axes[0])
        rows = [(n, c) for n, e in windows for c in e.get("checks", []) if c.get("name") == name]
        x = [n for n, _ in rows]
        if kind == "sides":
            ax.plot(x, [_value(c, "stable") for _, c in rows], "o-", color="#1f77b4", label="stable")
            ax.plot(x, [_value(c, "candidate") for _, c in rows], "s-", color="#ff7f0e", label="candidate")
        else:
            ax.plot(x, [_value(c, "statistic") for _, c in rows], "s-", color="#ff7f0e", label="candidate")
            ax.plot(x, [_value(c, "limit") for _, c in rows], "--", color="#d62728", label="limit")
        for n, check in rows:
            ax.axvline(n, color=_VERDICT_COLOURS.get(check.get("verdict", ""), "#7f7f7f"), lw=2, alpha=0.35)
        ax.set_ylabel(title)
        ax.legend(loc="upper left", fontsize="small")
    axes[-1].set_xlabel(
        "window (shaded by the candidate's share; vertical lines: green pass, grey wait, red fail)"
    )
    axes[-1].set_xticks([n for n, _ in windows] or [1])
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def _shade_steps(ax: Any, windows: list[tuple[int, dict[str, Any]]], *, label: bool) -> None:
    """Shade each step's windows; on the top panel, name the step's share above them."""
    shades = ("#f2f2f2", "#e0e0e0")
    start, current = None, None
    spans: list[tuple[int, int, float]] = []
    for n, evidence in windows:
        percent = evidence.get("percent")
        if percent != current:
            if current is not None and start is not None:
                spans.append((start, n - 1, current))
            start, current = n, percent
    if current is not None and start is not None:
        spans.append((start, windows[-1][0], current))
    for i, (first, last, percent) in enumerate(spans):
        ax.axvspan(first - 0.5, last + 0.5, color=shades[i % 2], zorder=0)
        if label:
            ax.annotate(
                f"candidate {percent:g}%",
                xy=((first + last) / 2, 1.0),
                xycoords=("data", "axes fraction"),
                ha="center",
                va="bottom",
                fontsize="small",
            )
