"""The drift report: one HTML page per model version, for the SRE and the model's owner.

It shows the latest tested window's verdict, the data-quality findings, and for every feature the reference
and current distributions side by side with the test that compared them (statistic, p-value, the corrected
threshold). Distributions come from the monitor's result (shares per bin or category, cut at the
reference's quantiles); the history lists earlier windows of the same version.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["write_drift_report"]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}
.drift{color:#b00020;font-weight:600}.ok{color:#1b5e20}.dq{color:#e65100;font-weight:600}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(20rem,1fr));gap:1rem}
figure{margin:0;border:1px solid #eee;padding:.5rem}figcaption{font-size:.85rem}
"""
_VERDICT = {"drift": "drift", "no_drift": "ok", "data_quality": "dq"}


def _shares(summary: dict[str, Any]) -> tuple[list[str], list[float]]:
    counts = [float(c) for c in summary.get("counts", [])]
    total = sum(counts) or 1.0
    if "categories" in summary:
        labels = [str(c) for c in summary["categories"]]
    else:
        edges = summary.get("edges", [])
        labels = [f"{edges[i]:.4g}–{edges[i + 1]:.4g}" for i in range(len(edges) - 1)]
    return labels, [c / total for c in counts]


def _plot(feature: dict[str, Any]) -> str | None:
    reference, current = feature.get("reference"), feature.get("current")
    if not reference or not current:
        return None
    labels, ref = _shares(reference)
    _, cur = _shares(current)
    if not labels or len(ref) != len(cur):
        return None
    figure, axes = plt.subplots(figsize=(4.2, 2.4), dpi=90)
    positions = range(len(labels))
    axes.bar([p - 0.2 for p in positions], ref, width=0.4, label="reference", color="#90a4ae")
    axes.bar([p + 0.2 for p in positions], cur, width=0.4, label="current", color="#e57373")
    axes.set_xticks(list(positions), labels, rotation=45, ha="right", fontsize=6)
    axes.set_ylabel("share", fontsize=7)
    axes.tick_params(axis="y", labelsize=6)
    axes.legend(fontsize=6)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def _feature_rows(result: dict[str, Any]) -> str:
    rows = []
    for f in result.get("features", []):
        css = "drift" if f.get("drift") else "ok"
        rows.append(
            f"<tr><td>{html.escape(str(f.get('name')))}</td><td>{html.escape(str(f.get('test', '')))}</td>"
            f"<td>{f.get('statistic', float('nan')):.4g}</td><td>{f.get('p_value', float('nan')):.3g}</td>"
            f"<td class='{css}'>{'drift' if f.get('drift') else 'no drift'}</td></tr>"
        )
    return "".join(rows)


def _figures(result: dict[str, Any]) -> str:
    out = []
    for f in result.get("features", []):
        image = _plot(f)
        if image is None:
            continue
        caption = f"{f.get('name')}: p = {f.get('p_value', float('nan')):.3g}" + (
            " — drift" if f.get("drift") else ""
        )
        out.append(
            f"<figure><img alt='{html.escape(str(f.get('name')))}' src='data:image/png;base64,{image}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    return "".join(out)


def _quality(result: dict[str, Any]) -> str:
    quality = result.get("quality") or {}
    violations = quality.get("violations") or {}
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td>"
        + "".join(
            f"<td>{counts.get(k, 0)}</td>"
            for k in ("missing", "null", "out_of_range", "unknown_category", "wrong_type")
        )
        + "</tr>"
        for name, counts in sorted(violations.items())
        if any(counts.values())
    )
    reasons = "".join(f"<li>{html.escape(r)}</li>" for r in quality.get("reasons", []))
    table = (
        "<table><tr><th>feature</th><th>missing</th><th>null</th><th>out of range</th>"
        f"<th>unknown category</th><th>wrong type</th></tr>{rows}</table>"
        if rows
        else "<p>No row broke the serving schema.</p>"
    )
    share = quality.get("invalid_fraction", 0.0)
    return f"<p>Invalid rows: {share:.1%} of the window.</p>{f'<ul>{reasons}</ul>' if reasons else ''}{table}"


def _history(history: list[dict[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(str(r.get('created_at', '')))}</td>"
        f"<td>{r.get('window', {}).get('rows', '')}</td>"
        f"<td class='{_VERDICT.get(r.get('verdict', ''), '')}'>{html.escape(str(r.get('verdict')))}</td>"
        f"<td>{html.escape(', '.join(r.get('drifted_features') or []))}</td></tr>"
        for r in reversed(history[-50:])
    )
    return f"<table><tr><th>tested (UTC)</th><th>rows</th><th>verdict</th><th>drifted</th></tr>{rows}</table>"


def write_drift_report(
    result: dict[str, Any], bundle: Path, out: Path, *, history: list[dict[str, Any]] | None = None
) -> Path:
    """Write the report of `result` (the latest window) to `out`; `bundle`: the version's drift reference."""
    settings = json.loads((bundle / "monitor.json").read_text())
    model, version = result.get("model"), result.get("version")
    window = result.get("window") or {}
    verdict = str(result.get("verdict"))
    same = [r for r in history or [result] if str(r.get("version")) == str(version)]
    name = f"{html.escape(str(model))}:{html.escape(str(version))}"
    start, end = (html.escape(str(window.get(k, "?"))) for k in ("start", "end"))
    shown = f'<span class="{_VERDICT.get(verdict, "")}">{html.escape(verdict)}</span>'
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Drift report — {name}</title><style>{_STYLE}</style></head><body>
<h1>Drift report — {name}</h1>
<p>Latest window: {window.get("rows", "?")} requests from {start} to {end}; verdict {shown}.
Detector {html.escape(str(result.get("detector")))} at family-wise p = {settings.get("p_value")}
(per-test threshold {result.get("threshold", float("nan")):.3g}); reference: {settings.get("reference_rows")}
training rows.</p>
<h2>Data quality</h2>{_quality(result)}
<h2>Tests</h2><table><tr><th>feature</th><th>test</th><th>statistic</th><th>p-value</th><th>verdict</th></tr>
{_feature_rows(result)}</table>
<h2>Reference and current distributions</h2><div class="grid">{_figures(result)}</div>
<h2>Windows of this version</h2>{_history(same)}
</body></html>"""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
