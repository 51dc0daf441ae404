"""Lineage graphs from the metadata store, reverse lineage queries, and the SVG, text and JSON renderings."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from cxops.config import Settings
from cxops.governance.errors import GovernanceInputError, PermissionDeniedError
from cxops.governance.lineage import (
    KIND_ORDER,
    LineageGraph,
    lineage_of,
    to_dict,
    to_svg,
    to_text,
    versions_trained_on,
)
from cxops.governance.service import Governance
from cxops.registry import ModelVersionRecord, Registry
from cxops.registry._audit import append_event
from cxops.registry._schema import ModelVersion, StageTransition

SVG = "{http://www.w3.org/2000/svg}"
VIEWS = ["customer_account", "customer_services", "customer_billing"]
DATASET = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
OTHER_DATASET = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
COMMIT = "4be2d7c01f9e8a7b6c5d4e3f2a1b0c9d8e7f6a5b"


@pytest.fixture
def gov(tmp_path: Path, database_url: str) -> Iterator[Governance]:
    with Governance.from_settings(Settings(home=tmp_path / "home", database_url=database_url)) as g:
        yield g


def register(
    registry: Registry,
    model: str,
    dataset: str,
    *,
    views: list[str],
    service: str = "churn_features",
    validated: bool = True,
) -> ModelVersionRecord:
    registry.record_dataset(model, dataset, f"/data/{model}/{dataset[:8]}.parquet", 700, "generated:telco")
    validation = registry.record_validation(
        model, dataset, f"{model}_raw", validated, {"evaluated_expectations": 12}, "/reports/v.html"
    )
    return registry.register_version(
        model,
        metrics={"roc_auc": 0.84},
        artifacts={"model": "/artifacts/model"},
        params={"eta": 0.05, "max_depth": 1},
        lineage={
            "validation_id": validation,
            "feature_service": service,
            "feature_views": views,
            "code": {"commit": COMMIT, "dirty": True},
            "trainer": "xgboost",
            "ray": {"backend": "local", "num_workers": 1, "device": "cpu"},
        },
        owner="retention@cxops.example",
        team="customer-retention",
        created_by="maya",
        dataset_version=dataset,
    )


def move(registry: Registry, model: str, version: int, to: str, reason: str) -> None:
    """Record a stage change as governance does (transition row, stage, audit event in one transaction)."""

    def write(session) -> None:
        row = session.query(ModelVersion).filter_by(model=model, version=version).one()
        transition = StageTransition(
            model=model,
            version=version,
            from_stage=row.stage,
            to_stage=to,
            actor="maya",
            role="ml-engineer",
            reason=reason,
            gates=[{"gate": "ownership", "check": "owner", "required": "set", "actual": "x", "passed": True}],
        )
        row.stage = to
        session.add(transition)
        session.flush()
        append_event(
            session,
            actor="maya",
            role="ml-engineer",
            action="stage.changed",
            reason=reason,
            model=model,
            version=version,
            payload={"transition_id": transition.id},
        )

    registry.write(write, "test stage change")


@pytest.fixture
def churn(gov: Governance) -> ModelVersionRecord:
    """churn:1 fully recorded: validated data, three views, bento, two stage changes, a canary deployment."""
    registry = gov.registry
    record = register(registry, "churn", DATASET, views=VIEWS)
    registry.set_bento("churn", 1, "churn_service:abc123", actor="maya")
    move(registry, "churn", 1, "staging", "offline evaluation passed")
    move(registry, "churn", 1, "production", "approved by compliance")
    for traffic in (10, 100):
        registry.record_event(
            actor="sam",
            role="sre",
            action="deployment.canary",
            model="churn",
            version=1,
            payload={"deployment_id": "churn-prod-1", "environment": "production", "traffic": traffic},
        )
    registry.record_event(actor="sam", role="sre", action="deployment.canary", model="churn", version=9)
    return record


def edges(graph: LineageGraph) -> set[tuple[str, str, str]]:
    return {(e.source, e.target, e.label) for e in graph.edges}


def test_graph_links_every_step_from_dataset_to_deployment_and_stages(gov, churn) -> None:
    graph = lineage_of(gov, gov.actor("dana"), "churn", 1)

    version = "model_version:churn:1"
    expected = {
        (f"dataset:churn/{DATASET}", "validation:1", "checked by"),
        *{("validation:1", f"feature_view:{v}", "feeds") for v in VIEWS},
        *{(f"feature_view:{v}", "feature_service:churn_features", "served by") for v in VIEWS},
        ("feature_service:churn_features", "training_run:churn:1", "trains"),
        ("training_run:churn:1", version, "produced"),
        (version, "bento:churn_service:abc123", "packaged"),
        ("bento:churn_service:abc123", "deployment:5", "deployed"),
        (version, "stage:1", "moved"),
        ("stage:1", "stage:2", "then"),
    }
    assert edges(graph) == expected
    assert {n.kind for n in graph.nodes} == set(KIND_ORDER)
    # Both ways: the service's parents are the views, the version's children its bento and first stage change.
    assert sorted(n.label for n in graph.parents("feature_service:churn_features")) == sorted(VIEWS)
    assert {n.id for n in graph.children(version)} == {"bento:churn_service:abc123", "stage:1"}
    assert [n.id for n in graph.parents("training_run:churn:1")] == ["feature_service:churn_features"]

    training = graph.node("training_run:churn:1")
    assert training.details["code"] == {"commit": COMMIT, "dirty": True}
    assert training.details["params"] == {"eta": 0.05, "max_depth": 1}
    assert training.details["ray"]["backend"] == "local"
    assert training.caption.startswith(COMMIT[:10] + "+dirty")
    assert graph.node(f"dataset:churn/{DATASET}").details["rows"] == 700
    assert graph.node("validation:1").details["success"] is True
    assert [n.label for n in graph.of_kind("stage")] == ["candidate → staging", "staging → production"]
    assert graph.node("stage:2").details["reason"] == "approved by compliance"
    # Two events of one deployment are one node; the event of another version is not in this graph.
    deployment = graph.node("deployment:5")
    assert [e["seq"] for e in deployment.details["events"]] == [5, 6]
    assert deployment.details["events"][-1]["payload"]["traffic"] == 100


def test_text_model_without_views_or_bento_links_validation_to_its_input(gov) -> None:
    register(gov.registry, "sentiment", DATASET, views=[], service="text:text", validated=False)

    graph = lineage_of(gov, gov.actor("maya"), "sentiment", 1)

    assert edges(graph) == {
        (f"dataset:sentiment/{DATASET}", "validation:1", "checked by"),
        ("validation:1", "feature_service:text:text", "feeds"),
        ("feature_service:text:text", "training_run:sentiment:1", "trains"),
        ("training_run:sentiment:1", "model_version:sentiment:1", "produced"),
    }
    assert graph.node("validation:1").caption == "FAILED"
    assert not graph.of_kind("bento") and not graph.of_kind("deployment") and not graph.of_kind("stage")


def test_versions_trained_on_a_dataset_or_a_feature_view(gov) -> None:
    registry = gov.registry
    register(registry, "churn", DATASET, views=VIEWS)
    register(registry, "churn", OTHER_DATASET, views=["customer_account"])
    register(registry, "recommendation", DATASET, views=["customer_billing", "offer_catalog"])
    dana = gov.actor("dana")

    def refs(**query) -> list[str]:
        return [r.ref for r in versions_trained_on(gov, dana, **query)]

    assert refs(dataset_version=DATASET) == ["churn:1", "recommendation:1"]
    assert refs(dataset_version=OTHER_DATASET) == ["churn:2"]
    assert refs(feature_view="customer_account") == ["churn:1", "churn:2"]
    assert refs(feature_view="customer_billing") == ["churn:1", "recommendation:1"]
    assert refs(feature_view="customer_billing", dataset_version=OTHER_DATASET) == []
    assert refs(feature_view="customer_account", dataset_version=OTHER_DATASET) == ["churn:2"]
    assert refs(dataset_version="0" * 64) == []
    with pytest.raises(GovernanceInputError, match="dataset version or a feature view"):
        versions_trained_on(gov, dana)


def test_reading_lineage_needs_the_lineage_read_permission(gov, churn) -> None:
    outsider = gov.actor("triage-service")  # app-team: models.read only
    with pytest.raises(PermissionDeniedError, match="lineage.read") as refused:
        lineage_of(gov, outsider, "churn", 1)
    assert refused.value.status_code == 403
    with pytest.raises(PermissionDeniedError, match="lineage.read"):
        versions_trained_on(gov, outsider, dataset_version=DATASET)
    assert lineage_of(gov, gov.actor("sam"), "churn", 1).nodes  # sre holds lineage.read


def test_svg_is_well_formed_xml_with_a_box_per_node_and_a_path_per_edge(gov, churn) -> None:
    graph = lineage_of(gov, gov.actor("dana"), "churn", 1)
    for direction in ("LR", "TB"):
        root = ET.fromstring(to_svg(graph, direction))
        assert root.tag == f"{SVG}svg"
        groups = root.findall(f"{SVG}g")
        assert sorted(g.get("id") for g in groups) == sorted(f"node-{n.id}" for n in graph.nodes)
        assert len(root.findall(f"{SVG}path[@class='edge']")) == len(graph.edges)
        width, height = float(root.get("width")), float(root.get("height"))
        for rect in root.iter(f"{SVG}rect"):
            if rect.get("rx"):  # node boxes lie inside the canvas
                assert float(rect.get("x")) >= 0 and float(rect.get("x")) + float(rect.get("width")) <= width
                assert (
                    float(rect.get("y")) >= 0 and float(rect.get("y")) + float(rect.get("height")) <= height
                )
        assert not any(e.get("href") or e.get("{http://www.w3.org/1999/xlink}href") for e in root.iter())
    lr = ET.fromstring(to_svg(graph))
    boxes = {g.get("id"): g.find(f"{SVG}rect") for g in lr.findall(f"{SVG}g")}
    xs = [float(boxes[f"node-{n.id}"].get("x")) for n in graph.nodes if n.kind != "stage"]
    assert xs == sorted(xs)  # left to right in the order data flows


def test_markup_in_recorded_names_is_escaped_in_svg_and_text(gov) -> None:
    register(gov.registry, "churn", DATASET, views=['<script>alert("x")</script>', "a&b"])
    graph = lineage_of(gov, gov.actor("dana"), "churn", 1)

    svg = to_svg(graph)
    root = ET.fromstring(svg)
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert root.find(f".//{SVG}script") is None
    labels = {t.text for t in root.iter(f"{SVG}text") if t.get("class") == "label"}
    assert "a&b" in labels
    assert '<script>alert("x")</script>' in to_text(graph)


def test_text_tree_shows_every_node_once_and_refers_back_on_fan_in(gov, churn) -> None:
    graph = lineage_of(gov, gov.actor("dana"), "churn", 1)
    text = to_text(graph)
    lines = text.splitlines()

    assert lines[0] == "lineage of churn:1"
    assert lines[1].startswith(f"dataset {DATASET[:12]}")
    for node in graph.nodes:
        assert node.label in text
    assert text.count("feature service churn_features (see above)") == len(VIEWS) - 1
    assert any("moved → stage change candidate → staging" in line for line in lines)
    assert any("deployed → deployment churn-prod-1" in line for line in lines)


def test_dict_is_json_ready_and_round_trips_nodes_and_edges(gov, churn) -> None:
    graph = lineage_of(gov, gov.actor("dana"), "churn", 1)
    data = json.loads(json.dumps(to_dict(graph)))

    assert data["model"] == "churn" and data["version"] == 1
    assert [n["id"] for n in data["nodes"]] == [n.id for n in graph.nodes]
    assert {(e["from"], e["to"], e["label"]) for e in data["edges"]} == edges(graph)
    version = next(n for n in data["nodes"] if n["kind"] == "model_version")
    assert version["details"]["stage"] == "production"
