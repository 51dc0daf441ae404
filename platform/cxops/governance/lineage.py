"""Lineage of a model version as a graph, reverse lineage queries, and the graph as SVG, text and JSON.

The graph follows the data forward: dataset snapshot → validation run → feature views → feature service →
training run (params, code commit, Ray) → model version → bento → deployments, and the version's stage
transitions as a chain after it. Everything is read from the metadata store (datasets, validations,
model versions, stage transitions) and, for deployments, from audit events whose action starts with
`deployment.`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from xml.sax.saxutils import escape, quoteattr

import sqlalchemy as sa

from cxops.governance.errors import GovernanceInputError
from cxops.governance.identity import Actor
from cxops.governance.records import TransitionRecord
from cxops.registry import AuditRecord, ModelVersionRecord, Registry, RegistryNotFoundError
from cxops.registry._schema import StageTransition

if TYPE_CHECKING:
    from cxops.governance.service import Governance

__all__ = [
    "DEPLOYMENT_ACTION_PREFIX",
    "KIND_ORDER",
    "Direction",
    "LineageEdge",
    "LineageGraph",
    "LineageNode",
    "NodeKind",
    "build_lineage",
    "lineage_of",
    "svg_size",
    "to_dict",
    "to_svg",
    "to_text",
    "transitions_of",
    "versions_trained_on",
]

NodeKind = Literal[
    "dataset",
    "validation",
    "feature_view",
    "feature_service",
    "training_run",
    "model_version",
    "bento",
    "deployment",
    "stage",
]
KIND_ORDER: tuple[str, ...] = NodeKind.__args__  # type: ignore[attr-defined]
"""The kinds in the order data flows through them: the columns of the SVG, left to right."""

DEPLOYMENT_ACTION_PREFIX = "deployment."
"""Audit events of a version whose action starts with this become its deployment nodes."""

# Payload keys that name the deployment an event belongs to; events without one are a node each.
_DEPLOYMENT_KEYS = ("deployment_id", "deployment", "release")


@dataclass(frozen=True)
class LineageNode:
    id: str
    kind: str
    """One of `KIND_ORDER`."""
    label: str
    details: dict[str, Any] = field(default_factory=dict)
    """JSON-ready facts of the node (dates as ISO strings)."""
    caption: str = ""
    """One short line shown under the label."""


@dataclass(frozen=True)
class LineageEdge:
    source: str
    target: str
    label: str


@dataclass
class LineageGraph:
    """Nodes in the order they were found (upstream first) and the edges between them."""

    model: str
    version: int
    nodes: list[LineageNode] = field(default_factory=list)
    edges: list[LineageEdge] = field(default_factory=list)

    def node(self, node_id: str) -> LineageNode:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(f"lineage of {self.model}:{self.version} has no node {node_id!r}")

    def of_kind(self, kind: str) -> list[LineageNode]:
        return [n for n in self.nodes if n.kind == kind]

    def parents(self, node_id: str) -> list[LineageNode]:
        return [self.node(e.source) for e in self.edges if e.target == node_id]

    def children(self, node_id: str) -> list[LineageNode]:
        return [self.node(e.target) for e in self.edges if e.source == node_id]

    def _add(self, node: LineageNode) -> LineageNode:
        if not any(n.id == node.id for n in self.nodes):
            self.nodes.append(node)
        return node

    def _link(self, source: LineageNode | None, target: LineageNode, label: str) -> None:
        if source is not None:
            edge = LineageEdge(source.id, target.id, label)
            if edge not in self.edges:
                self.edges.append(edge)


# Building ---------------------------------------------------------------------------------------------------


def lineage_of(gov: Governance, actor: Actor, model: str, version: int) -> LineageGraph:
    """The lineage graph of one version; needs the `lineage.read` permission."""
    gov.authorize(actor, "lineage.read")
    return build_lineage(gov.registry, gov.registry.get_version(model, version))


def build_lineage(registry: Registry, record: ModelVersionRecord) -> LineageGraph:
    """The lineage graph of `record`, without a permission check (for callers that made their own)."""
    graph = LineageGraph(record.model, record.version)
    lineage = record.lineage
    dataset_version = record.dataset_version or lineage.get("dataset_version")

    dataset = _dataset_node(registry, record.model, dataset_version) if dataset_version else None
    if dataset is not None:
        graph._add(dataset)

    upstream: LineageNode | None = dataset
    validation_id = lineage.get("validation_id")
    if validation_id is not None:
        validation = _validation_node(registry, validation_id)
        checked = validation.details.get("dataset_version")
        source = dataset
        if checked and checked != dataset_version:
            # Validated a different snapshot than the one trained on: show both, the auditor must see it.
            source = graph._add(_dataset_node(registry, record.model, checked))
        graph._add(validation)
        graph._link(source, validation, "checked by")
        upstream = validation

    views = [
        graph._add(LineageNode(f"feature_view:{name}", "feature_view", name, {"name": name}))
        for name in lineage.get("feature_views") or []
    ]
    for view in views:
        graph._link(upstream, view, "feeds")
    service_name = lineage.get("feature_service")
    service = None
    if service_name:
        text = str(service_name).startswith("text:")
        caption = "text input, no feature store" if text else f"{len(views)} feature view(s)"
        service = graph._add(
            LineageNode(
                f"feature_service:{service_name}",
                "feature_service",
                str(service_name),
                {"name": service_name, "feature_views": [v.label for v in views]},
                caption,
            )
        )
        for view in views:
            graph._link(view, service, "served by")
        if not views:
            graph._link(upstream, service, "feeds")

    training = graph._add(_training_node(record))
    if service is not None:
        graph._link(service, training, "trains")
    elif views:
        for view in views:
            graph._link(view, training, "trains")
    else:
        graph._link(upstream, training, "trains")

    version_node = graph._add(_version_node(record))
    graph._link(training, version_node, "produced")

    packaged: LineageNode = version_node
    if record.bento_tag:
        packaged = graph._add(
            LineageNode(f"bento:{record.bento_tag}", "bento", record.bento_tag, {"tag": record.bento_tag})
        )
        graph._link(version_node, packaged, "packaged")

    events = registry.audit_events(
        model=record.model, version=record.version, action=DEPLOYMENT_ACTION_PREFIX, limit=10_000
    )
    for deployment in _deployment_nodes(events):
        graph._add(deployment)
        graph._link(packaged, deployment, "deployed")

    previous = version_node
    for transition in transitions_of(registry, record.model, record.version):
        node = graph._add(_stage_node(transition))
        graph._link(previous, node, "moved" if previous is version_node else "then")
        previous = node
    return graph


def transitions_of(registry: Registry, model: str, version: int) -> list[TransitionRecord]:
    """The stage changes of one version, oldest first (with the gates as evaluated at each)."""
    with registry.reading() as session:
        rows = session.scalars(
            sa.select(StageTransition)
            .where(StageTransition.model == model, StageTransition.version == version)
            .order_by(StageTransition.id)
        ).all()
        return [TransitionRecord.of(row) for row in rows]


def _dataset_node(registry: Registry, model: str, version: str) -> LineageNode:
    node_id = f"dataset:{model}/{version}"
    try:
        data = registry.get_dataset(model, version)
    except RegistryNotFoundError:
        return LineageNode(node_id, "dataset", _short(version), {"version": version}, "not recorded")
    details = {
        "version": data.version,
        "uri": data.uri,
        "rows": data.rows,
        "source": data.source,
        "created_at": data.created_at.isoformat(),
    }
    return LineageNode(node_id, "dataset", _short(version), details, f"{data.rows} rows · {data.source}")


def _validation_node(registry: Registry, validation_id: Any) -> LineageNode:
    node_id = f"validation:{validation_id}"
    try:
        v = registry.get_validation(int(validation_id))
    except (RegistryNotFoundError, TypeError, ValueError):
        return LineageNode(node_id, "validation", f"#{validation_id}", {"id": validation_id}, "not recorded")
    details = {
        "id": v.id,
        "suite": v.suite,
        "success": v.success,
        "dataset_version": v.dataset_version,
        "statistics": v.statistics,
        "report_uri": v.report_uri,
        "created_at": v.created_at.isoformat(),
    }
    return LineageNode(
        node_id, "validation", f"#{v.id} {v.suite}", details, "passed" if v.success else "FAILED"
    )


def _training_node(record: ModelVersionRecord) -> LineageNode:
    lineage = record.lineage
    code = lineage.get("code") or {}
    commit = code.get("commit")
    trainer = lineage.get("trainer") or "unknown trainer"
    ray = lineage.get("ray") or {}
    details = {
        "trainer": trainer,
        "params": record.params,
        "code": code,
        "ray": ray,
        "training": lineage.get("training") or {},
        "created_by": record.created_by,
    }
    where = f"{commit[:10]}{'+dirty' if code.get('dirty') else ''}" if commit else "commit unknown"
    backend = f" · {ray['backend']} on {ray.get('device') or 'cpu'}" if ray.get("backend") else ""
    return LineageNode(
        f"training_run:{record.model}:{record.version}",
        "training_run",
        str(trainer),
        details,
        where + backend,
    )


def _version_node(record: ModelVersionRecord) -> LineageNode:
    details = {
        "model": record.model,
        "version": record.version,
        "stage": record.stage.value,
        "metrics": record.metrics,
        "artifacts": record.artifacts,
        "owner": record.owner,
        "team": record.team,
        "created_by": record.created_by,
        "created_at": record.created_at.isoformat(),
        "description": record.description,
    }
    return LineageNode(
        f"model_version:{record.model}:{record.version}",
        "model_version",
        record.ref,
        details,
        f"stage {record.stage.value}",
    )


def _stage_node(t: TransitionRecord) -> LineageNode:
    details = {
        "transition_id": t.id,
        "from": t.from_stage,
        "to": t.to_stage,
        "actor": t.actor,
        "role": t.role,
        "reason": t.reason,
        "override": t.override,
        "gates_passed": sum(1 for g in t.gates if g.get("passed")),
        "gates_failed": sum(1 for g in t.gates if not g.get("passed")),
        "approvals": [a.get("id") for a in t.approvals],
        "created_at": t.created_at.isoformat(),
    }
    caption = f"{t.actor} · {t.created_at:%Y-%m-%d %H:%M}" + (" · OVERRIDE" if t.override else "")
    return LineageNode(f"stage:{t.id}", "stage", f"{t.from_stage} → {t.to_stage}", details, caption)


def _deployment_nodes(events: Iterable[AuditRecord]) -> list[LineageNode]:
    """One node per deployment named in the events' payloads (events without a name: one node each)."""
    groups: dict[str, list[AuditRecord]] = {}
    for event in sorted(events, key=lambda e: e.seq):
        name = next((str(event.payload[k]) for k in _DEPLOYMENT_KEYS if event.payload.get(k)), None)
        groups.setdefault(name or f"event {event.seq}", []).append(event)
    nodes = []
    for name, group in groups.items():
        last = group[-1]
        details = {
            "deployment": name,
            "events": [
                {
                    "seq": e.seq,
                    "action": e.action,
                    "actor": e.actor,
                    "reason": e.reason,
                    "payload": e.payload,
                    "created_at": e.created_at.isoformat(),
                }
                for e in group
            ],
        }
        target = last.payload.get("environment") or last.payload.get("target") or ""
        caption = last.action.removeprefix(DEPLOYMENT_ACTION_PREFIX) + (f" · {target}" if target else "")
        nodes.append(LineageNode(f"deployment:{group[0].seq}", "deployment", name, details, caption))
    return nodes


def _short(content_hash: str) -> str:
    return content_hash[:12] if re.fullmatch(r"[0-9a-f]{16,}", content_hash) else content_hash


# Reverse queries -----------------------------------------------------------------------------------------


def versions_trained_on(
    gov: Governance, actor: Actor, *, dataset_version: str | None = None, feature_view: str | None = None
) -> list[ModelVersionRecord]:
    """Every version (of any model) trained on a dataset snapshot and/or reading a feature view, by model
    and version; needs `lineage.read`. With both arguments a version must match both.

    Lineage is a JSON column (JSONB on PostgreSQL, text on SQLite); a JSON query that works on both is
    awkward, so versions are filtered here in Python. The registry holds hundreds of versions, not
    millions: if that changes, index `dataset_version` (already a column) and the feature views."""
    gov.authorize(actor, "lineage.read")
    if dataset_version is None and feature_view is None:
        raise GovernanceInputError(
            "versions_trained_on needs a dataset version or a feature view to look for; "
            "pass --dataset-version or --feature-view"
        )
    registry = gov.registry
    found = []
    for summary in registry.list_models():
        for record in registry.list_versions(summary.name):
            lineage = record.lineage
            if dataset_version is not None and dataset_version not in (
                record.dataset_version,
                lineage.get("dataset_version"),
            ):
                continue
            if feature_view is not None and feature_view not in (lineage.get("feature_views") or []):
                continue
            found.append(record)
    return found


# Rendering -----------------------------------------------------------------------------------------------


def to_dict(graph: LineageGraph) -> dict[str, Any]:
    """JSON-ready: `{model, version, nodes: [{id, kind, label, caption, details}],
    edges: [{from, to, label}]}`."""
    return {
        "model": graph.model,
        "version": graph.version,
        "nodes": [
            {"id": n.id, "kind": n.kind, "label": n.label, "caption": n.caption, "details": n.details}
            for n in graph.nodes
        ],
        "edges": [{"from": e.source, "to": e.target, "label": e.label} for e in graph.edges],
    }


_KIND_TITLE = {
    "dataset": "dataset",
    "validation": "validation",
    "feature_view": "feature view",
    "feature_service": "feature service",
    "training_run": "training run",
    "model_version": "model version",
    "bento": "bento",
    "deployment": "deployment",
    "stage": "stage change",
}


def to_text(graph: LineageGraph) -> str:
    """The graph as a tree for the terminal, from its roots; a node reached again says "(see above)"."""
    lines = [f"lineage of {graph.model}:{graph.version}"]
    targets = {e.target for e in graph.edges}
    seen: set[str] = set()

    def describe(node: LineageNode) -> str:
        caption = f" ({node.caption})" if node.caption else ""
        return f"{_KIND_TITLE.get(node.kind, node.kind)} {node.label}{caption}"

    def walk(node_id: str, prefix: str, edge_label: str | None, last: bool, root: bool) -> None:
        node = graph.node(node_id)
        branch = "" if root else ("└─ " if last else "├─ ")
        arrow = f"{edge_label} → " if edge_label else ""
        if node_id in seen:
            lines.append(
                f"{prefix}{branch}{arrow}{_KIND_TITLE.get(node.kind, node.kind)} {node.label} (see above)"
            )
            return
        seen.add(node_id)
        lines.append(f"{prefix}{branch}{arrow}{describe(node)}")
        outgoing = [e for e in graph.edges if e.source == node_id]
        child_prefix = prefix if root else prefix + ("   " if last else "│  ")
        for i, edge in enumerate(outgoing):
            walk(edge.target, child_prefix, edge.label, i == len(outgoing) - 1, False)

    for node in graph.nodes:
        if node.id not in targets and node.id not in seen:
            walk(node.id, "", None, True, True)
    for node in graph.nodes:  # nodes only on a cycle (none are expected) are still shown
        if node.id not in seen:
            walk(node.id, "", None, True, True)
    return "\n".join(lines) + "\n"


# SVG layout: one layer per kind present (columns left to right, or rows top to bottom), nodes stacked
# across each layer, layers centred on each other.
_NODE_W, _NODE_H = 210, 62
_LAYER_GAP = {"LR": 90, "TB": 52}
"""Room between layers along the flow: edge labels sit there."""
_CROSS_GAP = {"LR": 24, "TB": 36}
_MARGIN, _TITLE_H, _CHANNEL_GAP = 20, 28, 10
_COLOURS = {
    "dataset": ("#e3f2fd", "#1565c0"),
    "validation": ("#e8f5e9", "#2e7d32"),
    "feature_view": ("#f3e5f5", "#6a1b9a"),
    "feature_service": ("#ede7f6", "#4527a0"),
    "training_run": ("#fff3e0", "#e65100"),
    "model_version": ("#fffde7", "#f57f17"),
    "bento": ("#e0f7fa", "#00838f"),
    "deployment": ("#fce4ec", "#ad1457"),
    "stage": ("#eceff1", "#37474f"),
}
_FAILED_STROKE = "#c62828"
_XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")

Direction = Literal["LR", "TB"]


def _text(value: object) -> str:
    return escape(_XML_INVALID.sub("", str(value)))


def _attr(value: object) -> str:
    return quoteattr(_XML_INVALID.sub("", str(value)))


def _fit(value: str, width_px: float, char_px: float) -> str:
    """Cut `value` to what fits in `width_px` at about `char_px` per character."""
    room = max(4, int(width_px / char_px))
    return value if len(value) <= room else value[: room - 1] + "…"


@dataclass(frozen=True)
class _Box:
    x: float
    y: float
    layer: int
    slot: int
    """Position across the layer, from the top (LR) or the left (TB)."""


def _layers(graph: LineageGraph) -> list[list[str]]:
    """Node ids per layer (kinds in `KIND_ORDER`), each layer ordered to keep edges from crossing."""
    kinds = [k for k in KIND_ORDER if graph.of_kind(k)] + sorted(
        {n.kind for n in graph.nodes} - set(KIND_ORDER)
    )
    layer_of = {n.id: kinds.index(n.kind) for n in graph.nodes}
    order = {n.id: i for i, n in enumerate(graph.nodes)}
    slot_of: dict[str, int] = {}
    layers = []
    for index, kind in enumerate(kinds):
        members = [n.id for n in graph.nodes if n.kind == kind]

        def barycentre(node_id: str, index: int = index) -> float:
            # Average slot of the parents in earlier layers: fewer crossings than arrival order.
            slots = [
                slot_of[e.source] for e in graph.edges if e.target == node_id and layer_of[e.source] < index
            ]
            return sum(slots) / len(slots) if slots else math.inf

        members.sort(key=lambda node_id: (barycentre(node_id), order[node_id]))
        slot_of.update((node_id, slot) for slot, node_id in enumerate(members))
        layers.append(members)
    return layers


def svg_size(graph: LineageGraph, direction: Direction = "LR") -> tuple[float, float]:
    """Width and height of `to_svg(graph, direction)` without the routed-edge channels (to choose one)."""
    _, width, height = _place(_layers(graph), direction)
    return width, height


def _place(layers: list[list[str]], direction: Direction) -> tuple[dict[str, _Box], float, float]:
    """Node positions, and the width and height the nodes take (margins and title included)."""
    layer_step = (_NODE_W if direction == "LR" else _NODE_H) + _LAYER_GAP[direction]
    cross_size = _NODE_H if direction == "LR" else _NODE_W
    cross_step = cross_size + _CROSS_GAP[direction]
    widest = max((len(members) for members in layers), default=0)
    cross_total = widest * cross_step - (_CROSS_GAP[direction] if widest else 0)
    boxes = {}
    for layer, members in enumerate(layers):
        own = len(members) * cross_step - (_CROSS_GAP[direction] if members else 0)
        for slot, node_id in enumerate(members):
            along = layer * layer_step
            across = (cross_total - own) / 2 + slot * cross_step
            x, y = (along, across) if direction == "LR" else (across, along)
            boxes[node_id] = _Box(_MARGIN + x, _MARGIN + _TITLE_H + y, layer, slot)
    flow_total = len(layers) * layer_step - (_LAYER_GAP[direction] if layers else 0)
    flow, cross = max(flow_total, 0), max(cross_total, 0)
    width, height = (flow, cross) if direction == "LR" else (cross, flow)
    return boxes, 2 * _MARGIN + max(width, 240), 2 * _MARGIN + _TITLE_H + height


def _edge(a: _Box, b: _Box, direction: Direction, channel: float | None) -> tuple[str, float, float, str]:
    """SVG path of an edge and where its label goes (x, y, text-anchor). `channel`: the x (TB) or y (LR)
    of the lane past every node that an edge skipping layers follows."""
    w, h = _NODE_W, _NODE_H
    if direction == "LR":
        if a.layer == b.layer and channel is None:  # next in the same column: straight down
            x, y1, y2 = a.x + w / 2, a.y + h, b.y
            return f"M {x:.1f} {y1:.1f} L {x:.1f} {y2 - 2:.1f}", x + 6, (y1 + y2) / 2 + 3, "start"
        x1, y1, x2, y2 = a.x + w, a.y + h / 2, b.x, b.y + h / 2
        if channel is None:
            mid = (x1 + x2) / 2
            path = f"M {x1:.1f} {y1:.1f} C {mid:.1f} {y1:.1f}, {mid:.1f} {y2:.1f}, {x2 - 2:.1f} {y2:.1f}"
            return path, mid, (y1 + y2) / 2 - 4, "middle"
        out, into = x1 + _LAYER_GAP[direction] / 3, x2 - _LAYER_GAP[direction] / 3
        path = (
            f"M {x1:.1f} {y1:.1f} L {out:.1f} {y1:.1f} L {out:.1f} {channel:.1f} "
            f"L {into:.1f} {channel:.1f} L {into:.1f} {y2:.1f} L {x2 - 2:.1f} {y2:.1f}"
        )
        return path, (out + into) / 2, channel - 3, "middle"
    if a.layer == b.layer and channel is None:  # next in the same row: straight right
        y, x1, x2 = a.y + h / 2, a.x + w, b.x
        return f"M {x1:.1f} {y:.1f} L {x2 - 2:.1f} {y:.1f}", (x1 + x2) / 2, y - 5, "middle"
    x1, y1, x2, y2 = a.x + w / 2, a.y + h, b.x + w / 2, b.y
    if channel is None:
        mid = (y1 + y2) / 2
        path = f"M {x1:.1f} {y1:.1f} C {x1:.1f} {mid:.1f}, {x2:.1f} {mid:.1f}, {x2:.1f} {y2 - 2:.1f}"
        return path, (x1 + x2) / 2 + 6, mid + 3, "start"
    out, into = y1 + _LAYER_GAP[direction] / 3, y2 - _LAYER_GAP[direction] / 3
    path = (
        f"M {x1:.1f} {y1:.1f} L {x1:.1f} {out:.1f} L {channel:.1f} {out:.1f} "
        f"L {channel:.1f} {into:.1f} L {x2:.1f} {into:.1f} L {x2:.1f} {y2 - 2:.1f}"
    )
    return path, channel + 4, (out + into) / 2, "start"


def to_svg(graph: LineageGraph, direction: Direction = "LR") -> str:
    """A self-contained SVG of the graph: one layer per kind, left to right ("LR", the default) or top to
    bottom ("TB", narrower: for pages), edges as labelled arrows.

    An edge to the next layer is a curve; one that skips layers (and would cross their nodes) follows a
    lane past every node (below them in LR, right of them in TB); one within a layer (the chain of stage
    changes) is a straight arrow to the next node."""
    layers = _layers(graph)
    boxes, width, height = _place(layers, direction)
    edge_parts: list[str] = []
    labels: list[str] = []
    lanes = 0
    for edge in graph.edges:
        a, b = boxes[edge.source], boxes[edge.target]
        channel = None
        if not (b.layer == a.layer + 1 or (b.layer == a.layer and b.slot == a.slot + 1)):
            lanes += 1
            base = height - _MARGIN if direction == "LR" else width - _MARGIN
            channel = base + lanes * _CHANNEL_GAP + 4
        path, lx, ly, anchor = _edge(a, b, direction, channel)
        edge_parts.append(
            f'<path class="edge" d="{path}" marker-end="url(#arrow)"><title>'
            f"{_text(edge.source)} → {_text(edge.target)}: {_text(edge.label)}</title></path>"
        )
        labels.append(
            f'<text class="edge-label" x="{lx:.1f}" y="{ly:.1f}" text-anchor="{anchor}">'
            f"{_text(edge.label)}</text>"
        )
    extra = lanes * _CHANNEL_GAP + 12 if lanes else 0
    if direction == "LR":
        height += extra
    else:
        width += extra + 60  # lane labels sit right of the lanes
    nodes = []
    for node in graph.nodes:
        box = boxes[node.id]
        fill, stroke = _COLOURS.get(node.kind, ("#ffffff", "#616161"))
        failed = node.details.get("success") is False or node.details.get("override") is True
        tooltip = "\n".join(
            [f"{_KIND_TITLE.get(node.kind, node.kind)}: {node.label}", node.caption]
            + [f"{k}: {v}" for k, v in node.details.items() if not isinstance(v, dict | list)]
        )
        nodes.append(
            f'<g class="node {_text(node.kind)}" id={_attr("node-" + node.id)}>'
            f"<title>{_text(tooltip)}</title>"
            f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{_NODE_W}" height="{_NODE_H}" rx="8" '
            f'fill="{fill}" stroke="{_FAILED_STROKE if failed else stroke}" '
            f'stroke-width="{2.5 if failed else 1.4}"/>'
            f'<text class="kind" x="{box.x + 10:.1f}" y="{box.y + 16:.1f}" fill="{stroke}">'
            f"{_text(_KIND_TITLE.get(node.kind, node.kind).upper())}</text>"
            f'<text class="label" x="{box.x + 10:.1f}" y="{box.y + 35:.1f}">'
            f"{_text(_fit(node.label, _NODE_W - 20, 7.4))}</text>"
            f'<text class="caption" x="{box.x + 10:.1f}" y="{box.y + 52:.1f}">'
            f"{_text(_fit(node.caption, _NODE_W - 20, 5.9))}</text></g>"
        )
    title = f"Lineage of {graph.model}:{graph.version}"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label={_attr(title)}>'
        f"<title>{_text(title)}</title>"
        "<defs>"
        '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#546e7a"/></marker>'
        "<style>"
        "text{font-family:'DejaVu Sans',Arial,Helvetica,sans-serif}"
        ".edge{fill:none;stroke:#78909c;stroke-width:1.4}"
        ".edge-label{font-size:10px;fill:#455a64;paint-order:stroke;stroke:#fff;stroke-width:3px}"
        ".kind{font-size:9px;letter-spacing:0.06em;font-weight:bold}"
        ".label{font-size:12.5px;font-weight:bold;fill:#212121}"
        ".caption{font-size:10px;fill:#424242}"
        ".heading{font-size:14px;font-weight:bold;fill:#263238}"
        "</style></defs>"
        '<rect width="100%" height="100%" fill="#ffffff"/>'
        f'<text class="heading" x="{_MARGIN}" y="{_MARGIN + 6}">{_text(title)}</text>'
        + "".join(edge_parts)
        + "".join(nodes)
        + "".join(labels)
        + "</svg>"
    )
