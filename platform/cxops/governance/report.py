"""The compliance report of a model version: one self-contained HTML file for an auditor.

It gathers what governance knows of the version: the model card summary (purpose, intended use, owner),
metrics against the spec's thresholds, the bias report (per-segment tables of the evaluation and the
bias gaps with bootstrap intervals, as the promotion gate measures them), the gates as evaluated at each
stage change, approvals, the DPIA, the lineage graph and the version's audit events with the result of
verifying the audit chain. Styles and pictures are inline (SVG); nothing is fetched from elsewhere, so
the file can be archived and opened offline. Every value is HTML-escaped by the template engine.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

import sqlalchemy as sa

from cxops.config import Settings
from cxops.errors import CXOpsError
from cxops.governance.identity import Actor
from cxops.governance.lineage import (
    Direction,
    LineageGraph,
    build_lineage,
    svg_size,
    to_svg,
    transitions_of,
)
from cxops.governance.records import ApprovalRecord
from cxops.registry import AuditRecord, ModelVersionRecord, Registry
from cxops.registry._schema import Approval
from cxops.specs import ModelSpec

if TYPE_CHECKING:
    from cxops.governance.service import Governance

__all__ = ["REPORT_SUFFIX", "bar_svg", "lineage_page", "write_compliance_report"]

REPORT_SUFFIX = "-compliance-report.html"
"""Reports are named `<model>-v<version>` followed by this."""
_TEMPLATES = Path(__file__).parent / "templates"
_AUDIT_EXCERPT = 500
"""At most this many of the version's audit events are shown (the newest)."""
_PAYLOAD_CHARS = 240
_PAGE_WIDTH = 1130
"""Content width of the report (px): a lineage graph wider than this left to right is drawn top to bottom."""
_GAP_KEYS = ("_difference", "_ratio", "_gap")
# The per-group value plotted for a segment when no bias gaps could be measured, by preference.
_PLOT_METRICS = ("recall", "accuracy", "hit_rate_at_k", "macro_f1", "f1")


def write_compliance_report(gov: Governance, actor: Actor, model: str, version: int, out_dir: Path) -> Path:
    """Write `<out_dir>/<model>-v<version>-compliance-report.html` and return its path.

    Needs the `reports.read` permission, which covers everything the report shows (lineage, approvals,
    the version's audit events and the chain's verification)."""
    gov.authorize(actor, "reports.read")
    registry, settings = gov.registry, gov.settings
    record = registry.get_version(model, version)
    now: datetime = gov.clock()
    problems: list[str] = []

    spec = _spec(model, settings, problems)
    evaluation_dir = Path(record.artifacts["evaluation"]) if record.artifacts.get("evaluation") else None
    card = _card_data(record, evaluation_dir, problems)
    evaluation = card.get("evaluation") or {}
    graph = build_lineage(registry, record)
    events = _events(registry, record)
    context = {
        "title": f"Compliance report: {record.ref}",
        "generated_at": now,
        "generated_by": actor.name,
        "record": record,
        "spec": spec,
        "evaluation_dir": evaluation_dir,
        "thresholds": _thresholds(record, spec, evaluation),
        "segments": _segment_tables(evaluation),
        "bias": _bias(gov, record, spec, evaluation_dir),
        "transitions": transitions_of(registry, model, version),
        "blocked": [e for e in events if e.action == "stage.blocked"],
        "approvals": _approvals(registry, model, version),
        "dpia": _dpia(spec, settings, now.date()),
        "lineage_svg": _markup(to_svg(graph, _direction_for(graph))),
        "lineage_graph": graph,
        "events": events[-_AUDIT_EXCERPT:],
        "events_total": len(events),
        "verification": registry.verify_audit(),
        "problems": problems,
    }
    html = _environment().get_template("compliance_report.html.j2").render(**context)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{model}-v{version}{REPORT_SUFFIX}"
    path.write_text(html, encoding="utf-8")
    return path


def lineage_page(graph: LineageGraph) -> str:
    """A standalone HTML page of a lineage graph: the SVG and a table of every node's details."""
    svg = _markup(to_svg(graph, _direction_for(graph)))
    return _environment().get_template("lineage.html.j2").render(graph=graph, svg=svg)


def _direction_for(graph: LineageGraph) -> Direction:
    """Left to right when it fits the page, else top to bottom: an auditor reads (and prints) it whole."""
    return "LR" if svg_size(graph, "LR")[0] <= _PAGE_WIDTH else "TB"


# Gathering ------------------------------------------------------------------------------------------------


def _spec(model: str, settings: Settings, problems: list[str]) -> ModelSpec | None:
    from cxops.specs import load_spec

    try:
        return load_spec(model, settings)
    except CXOpsError as error:
        problems.append(f"model spec: {error}")
        return None


def _card_data(
    record: ModelVersionRecord, evaluation_dir: Path | None, problems: list[str]
) -> dict[str, Any]:
    """The evaluation's metrics.json (`{model_name, version, evaluation, training}`), or {} with a problem."""
    where = record.artifacts.get("metrics") or (evaluation_dir / "metrics.json" if evaluation_dir else None)
    if where is None:
        problems.append(f"{record.ref} records no evaluation directory: no per-segment tables")
        return {}
    path = Path(where)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        problems.append(f"evaluation metrics {path} could not be read ({error}): no per-segment tables")
        return {}
    return data if isinstance(data, dict) else {}


def _thresholds(
    record: ModelVersionRecord, spec: ModelSpec | None, evaluation: dict[str, Any]
) -> list[dict[str, Any]]:
    """The spec's thresholds against the registered metrics; directions as the evaluation judged them."""
    checks = {c["metric"]: c for c in evaluation.get("checks") or [] if isinstance(c, dict) and "metric" in c}
    bounds = dict(spec.evaluation.thresholds) if spec else {m: c["bound"] for m, c in checks.items()}
    rows = []
    for metric, bound in bounds.items():
        direction = checks.get(metric, {}).get("direction") or _direction(metric)
        value = record.metrics.get(metric)
        number = value if isinstance(value, int | float) and math.isfinite(value) else None
        passed = number is not None and (number <= bound if direction == "max" else number >= bound)
        rows.append(
            {
                "metric": metric,
                "required": f"{'≤' if direction == 'max' else '≥'} {bound:.4f}",
                "actual": "missing" if number is None else f"{number:.4f}",
                "passed": passed,
            }
        )
    return rows


def _direction(metric: str) -> str:
    from cxops.evaluation.report import LOWER_IS_BETTER  # only when the evaluation recorded no checks

    return "max" if metric in LOWER_IS_BETTER else "min"


def _segment_tables(evaluation: dict[str, Any]) -> list[dict[str, Any]]:
    """The evaluation's per-segment tables, whichever report kind wrote them (binary, text, ranking)."""
    raw = evaluation.get("segments")
    segments: list[tuple[str, dict[str, Any], list[dict[str, Any]]]] = []
    if isinstance(raw, dict):
        segments = [(str(name), seg, list(seg.get("groups") or [])) for name, seg in raw.items()]
    elif isinstance(raw, list):  # ranking: one row per (segment, value)
        by_name: dict[str, list[dict[str, Any]]] = {}
        for row in raw:
            by_name.setdefault(str(row.get("segment")), []).append(row)
        segments = [(name, {}, rows) for name, rows in by_name.items()]
    tables = []
    for name, seg, groups in segments:
        columns: list[str] = []
        for group in groups:
            columns += [k for k in group if k not in ("group", "value", "segment") and k not in columns]
        rows = [
            {"group": str(g.get("group", g.get("value", "?"))), "values": [_cell(g.get(c)) for c in columns]}
            for g in groups
        ]
        gaps = [
            (key.replace("_", " "), _cell(value))
            for key, value in seg.items()
            if key.endswith(_GAP_KEYS) and (value is None or isinstance(value, int | float))
        ]
        plotted = next((m for m in _PLOT_METRICS if m in columns), None)
        plot = None
        if plotted:
            values = {
                str(g.get("group", g.get("value", "?"))): float(g[plotted])
                for g in groups
                if isinstance(g.get(plotted), int | float)
            }
            plot = _markup(bar_svg(f"{name}: {plotted.replace('_', ' ')} by group", values))
        notes = [str(n) for n in seg.get("notes") or []]
        if seg.get("worst_group"):
            notes.append(f"weakest group: {seg['worst_group']}")
        notes += [f"group {s.get('group')} left out ({s.get('rows')} rows)" for s in seg.get("skipped") or []]
        tables.append(
            {"name": name, "columns": columns, "rows": rows, "gaps": gaps, "notes": notes, "plot": plot}
        )
    return tables


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.3f}" if math.isfinite(value) else "n/a"
    return str(value)


def _bias(
    gov: Governance, record: ModelVersionRecord, spec: ModelSpec | None, evaluation_dir: Path | None
) -> dict:
    """Bias gaps with bootstrap intervals from the saved predictions, as the `bias` gate measures them."""
    policy = gov.policy.bias
    out: dict[str, Any] = {"gaps": [], "problem": None, "confidence": policy.confidence}
    if spec is None or evaluation_dir is None:
        out["problem"] = "no model spec or evaluation directory: bias gaps cannot be measured"
        return out
    from cxops.governance.bias import bias_gaps, load_predictions

    limits = policy.limits.get(spec.task, {})
    try:
        predictions = load_predictions(evaluation_dir)
        segments = [s for s in spec.evaluation.bias_segments if s in predictions.columns]
        gaps = bias_gaps(
            predictions,
            spec.task,
            segments,
            None,
            resamples=policy.resamples,
            confidence=policy.confidence,
            min_group_rows=policy.min_group_rows,
            seed=record.version,
        )
    except CXOpsError as error:
        out["problem"] = str(error)
        return out
    for gap in gaps:
        limit = limits.get(gap.measure)
        measurable = math.isfinite(gap.value)
        out["gaps"].append(
            {
                "segment": gap.segment,
                "measure": gap.measure.replace("_", " "),
                "value": f"{gap.value:.4f}" if measurable else "not measurable",
                "interval": f"{gap.low:.4f} – {gap.high:.4f}" if measurable else "-",
                "limit": "-" if limit is None else f"≤ {limit}",
                "passed": None if limit is None or not measurable else gap.value <= limit,
                "groups": [(g, f"{v:.3f}", gap.rows.get(g, 0)) for g, v in gap.groups.items()],
                "note": gap.note,
                "plot": _markup(bar_svg(f"{gap.segment}: {gap.measure.replace('_', ' ')}", gap.groups)),
            }
        )
    return out


def _approvals(registry: Registry, model: str, version: int) -> list[ApprovalRecord]:
    with registry.reading() as session:
        rows = session.scalars(
            sa.select(Approval)
            .where(Approval.model == model, Approval.version == version)
            .order_by(Approval.id)
        )
        return [ApprovalRecord.of(row) for row in rows]


def _dpia(spec: ModelSpec | None, settings: Settings, today: date) -> dict[str, Any]:
    if spec is None:
        return {"note": None, "record": None, "status": None, "problem": "no model spec: no DPIA to read"}
    from cxops.governance.dpia import DpiaError, check_dpia, load_dpia

    status = check_dpia(spec, settings, today)
    try:
        record = load_dpia(spec, settings)
    except DpiaError:
        record = None  # the status says why
    return {"note": spec.privacy.dpia, "record": record, "status": status, "problem": None}


def _events(registry: Registry, record: ModelVersionRecord) -> list[AuditRecord]:
    """The version's own events and the model-wide ones (no version), oldest first."""
    events = registry.audit_events(model=record.model, limit=100_000)
    return sorted((e for e in events if e.version in (record.version, None)), key=lambda e: e.seq)


# Rendering ------------------------------------------------------------------------------------------------


def bar_svg(title: str, values: dict[str, float]) -> str:
    """A small horizontal bar plot of per-group values in [0, 1] (shares and rates), as inline SVG."""
    label_w, bar_w, row_h, top = 130, 240, 20, 24
    height = top + max(len(values), 1) * row_h + 8
    width = label_w + bar_w + 60
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="bars" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title, {chr(34): "&quot;"})}">',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="14" class="plot-title">{escape(title)}</text>',
        f'<line x1="{label_w}" y1="{top - 4}" x2="{label_w}" y2="{height - 6}" stroke="#90a4ae"/>',
    ]
    finite = {g: v for g, v in values.items() if isinstance(v, int | float) and math.isfinite(v)}
    highest = max(finite.values(), default=0.0)
    lowest = min(finite.values(), default=0.0)
    for i, (group, value) in enumerate(values.items()):
        y = top + i * row_h
        name = group if len(group) <= 18 else group[:17] + "…"
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{escape(name)}</text>')
        if group not in finite:
            parts.append(f'<text x="{label_w + 6}" y="{y + 13}">n/a</text>')
            continue
        length = max(0.0, min(1.0, float(value))) * bar_w
        colour = "#c62828" if len(finite) > 1 and value == lowest != highest else "#1976d2"
        parts.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{length:.1f}" height="{row_h - 7}" fill="{colour}">'
            f"<title>{escape(group)}: {value:.4f}</title></rect>"
        )
        parts.append(f'<text x="{label_w + length + 5:.1f}" y="{y + 13}">{value:.3f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _markup(svg: str) -> Any:
    """Mark SVG built (and escaped) here as safe, so the template inlines it."""
    from markupsafe import Markup

    return Markup(svg)


def _fmt_time(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    return "-" if value is None else str(value)


def _payload(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    return text if len(text) <= _PAYLOAD_CHARS else text[: _PAYLOAD_CHARS - 1] + "…"


def _environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(str(_TEMPLATES)),
        undefined=StrictUndefined,
        autoescape=True,  # every template here is HTML
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _fmt_time
    env.filters["payload"] = _payload
    env.filters["fulljson"] = lambda value: json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    env.filters["cell"] = _cell
    env.filters["asdict"] = asdict
    return env
