"""One function per lifecycle step. Paths in, a JSON-able summary out."""

from __future__ import annotations

import functools
import json
import logging
import math
import shutil
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import pandas as pd

from cxops.config import Settings
from cxops.data.generators import generate
from cxops.data.loaders import coerce, read_table
from cxops.data.snapshot import snapshot
from cxops.lifecycle._lineage import code_version
from cxops.specs import load_model_code, load_spec

__all__ = ["build_features", "evaluate", "ingest", "package", "register", "train", "validate"]

# Libraries that log at INFO once the KFP executor turns the root logger up; the step's own prints and
# warnings are what a person watching the run needs.
P = ParamSpec("P")
R = TypeVar("R")

_CHATTY_LOGGERS = ("alembic", "great_expectations", "bentoml", "feast", "filelock", "urllib3", "numexpr")

_TRAINING_SUMMARY = "training.json"
_EVALUATION_SUMMARY = "summary.json"


def _step(func: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        for name in _CHATTY_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
        return func(*args, **kwargs)

    return run


@_step
def ingest(
    model: str, settings: Settings, *, data_path: str = "", rows: int = 5000, seed: int = 7
) -> dict[str, Any]:
    """Load the real file at `data_path` (or generate `rows` seeded rows), type it and snapshot it."""
    from cxops.registry import Registry

    spec = load_spec(model, settings)
    if data_path:
        path = Path(data_path)
        # A file without event timestamps is stamped with its modification time, so the same file always
        # gives the same snapshot version.
        observed_at = datetime.fromtimestamp(path.stat().st_mtime, UTC) if path.exists() else None
        frame = coerce(read_table(path), spec, observed_at=observed_at)
        source = str(path.resolve())
    else:
        frame = coerce(generate(spec.data.generator, n=rows, seed=seed), spec)
        source = f"generator:{spec.data.generator}?rows={rows}&seed={seed}"
    snap = snapshot(frame, model, settings.datasets_dir, source)
    with Registry.from_settings(settings) as registry:
        registry.record_dataset(model, snap.version, str(snap.path), snap.rows, source)
    return {
        "model": model,
        "dataset_version": snap.version,
        "path": str(snap.path),
        "rows": snap.rows,
        "source": source,
    }


@_step
def validate(
    model: str, dataset_path: str, dataset_version: str, report_dir: str, settings: Settings
) -> dict[str, Any]:
    """Run the model's expectation suite; the report is kept, and a failure stops the pipeline."""
    from cxops.registry import Registry
    from cxops.validation import validate as run_suite

    spec = load_spec(model, settings)
    frame = pd.read_parquet(dataset_path)
    report = run_suite(frame, spec, Path(report_dir))
    with Registry.from_settings(settings) as registry:
        validation_id = registry.record_validation(
            model=model,
            dataset_version=dataset_version,
            suite=report.suite,
            success=report.success,
            statistics={
                "evaluated": report.evaluated_expectations,
                "successful": report.successful_expectations,
                "rows": report.rows,
                "failures": len(report.failures),
            },
            report_uri=str(report.report_path),
        )
    report.raise_if_failed()
    return {
        "validation_id": validation_id,
        "suite": report.suite,
        "success": report.success,
        "report": str(report.report_path),
    }


@_step
def build_features(model: str, dataset_path: str, entities_path: str, settings: Settings) -> dict[str, Any]:
    """Pseudonymise, derive features, write them to Feast's offline store, apply and materialize.

    Writes the entity frame for training (pseudonym, timestamp, label, bias segments) to `entities_path`.
    """
    from cxops.features import FeatureStoreClient
    from cxops.privacy import pseudonymise_frame

    spec = load_spec(model, settings)
    raw = pd.read_parquet(dataset_path)
    private = pseudonymise_frame(raw, spec, settings.pseudonym_key_bytes())
    features = load_model_code(model, settings).derive_features(private)
    keys = [spec.features.join_key, spec.data.timestamp]
    client = FeatureStoreClient(settings)
    client.write_offline(spec, features[keys + spec.features.names])
    client.apply(spec)
    client.materialize(end=datetime.now(UTC))
    entity_columns = keys + [spec.data.label] + [s for s in spec.evaluation.bias_segments if s not in keys]
    entities = private[entity_columns]
    Path(entities_path).parent.mkdir(parents=True, exist_ok=True)
    entities.to_parquet(entities_path, index=False)
    return {
        "entities": len(entities),
        "feature_service": spec.features.feature_service,
        "feature_views": list(spec.features.feature_views),
    }


@_step
def train(
    model: str, entities_path: str, model_dir: str, test_path: str, settings: Settings
) -> dict[str, Any]:
    """Point-in-time training set from Feast, a held-out test split, and a model trained on Ray."""
    from sklearn.model_selection import train_test_split

    from cxops.features import FeatureStoreClient
    from cxops.training import train as train_on_ray

    spec = load_spec(model, settings)
    entities = pd.read_parquet(entities_path)
    frame = FeatureStoreClient(settings).training_frame(spec, entities)
    train_frame, test_frame = train_test_split(
        frame,
        test_size=spec.evaluation.test_fraction,
        stratify=frame[spec.data.label],
        random_state=spec.trainer.seed,
    )
    print(f"[train] {len(train_frame)} training rows, {len(test_frame)} held out for evaluation", flush=True)
    result = train_on_ray(spec, train_frame, settings, progress=lambda m: print(f"[train] {m}", flush=True))
    result.classifier.save(Path(model_dir))
    Path(test_path).parent.mkdir(parents=True, exist_ok=True)
    test_frame.to_parquet(test_path, index=False)
    summary = result.to_dict()
    (Path(model_dir) / _TRAINING_SUMMARY).write_text(json.dumps(summary, indent=2, default=str))
    return summary


@_step
def evaluate(model: str, model_dir: str, test_path: str, out_dir: str, settings: Settings) -> dict[str, Any]:
    """Metrics, bias by segment and the model card, on the held-out test split."""
    from cxops.evaluation import evaluate as run_evaluation
    from cxops.evaluation import write_model_card
    from cxops.modeling import TabularClassifier

    spec = load_spec(model, settings)
    classifier = TabularClassifier.load(Path(model_dir))
    report = run_evaluation(classifier, pd.read_parquet(test_path), spec)
    training = json.loads((Path(model_dir) / _TRAINING_SUMMARY).read_text())
    paths = write_model_card(report, spec, Path(out_dir), training=training)
    summary = {
        "metrics": {k: v for k, v in report.metrics.items() if isinstance(v, float) and math.isfinite(v)},
        "passed": report.passed,
        "files": {"markdown": str(paths.markdown), "html": str(paths.html)},
    }
    (Path(out_dir) / _EVALUATION_SUMMARY).write_text(json.dumps(summary, indent=2))
    return summary


@_step
def register(
    model: str,
    settings: Settings,
    *,
    dataset_version: str,
    validation_id: int,
    model_dir: str,
    evaluation_dir: str,
) -> dict[str, Any]:
    """Record a new `candidate` version with its lineage and its artifacts (copied to a run directory)."""
    from cxops.registry import Registry

    spec = load_spec(model, settings)
    training = json.loads((Path(model_dir) / _TRAINING_SUMMARY).read_text())
    metrics = json.loads((Path(evaluation_dir) / _EVALUATION_SUMMARY).read_text())["metrics"]
    # Artifacts are copied before the version is recorded, so a version never points at missing files.
    run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    target = settings.artifacts_dir / model / run_id
    shutil.copytree(model_dir, target / "model")
    shutil.copytree(evaluation_dir, target / "evaluation")
    artifacts = {
        "model": str(target / "model"),
        "evaluation": str(target / "evaluation"),
        "model_card": str(target / "evaluation" / "model_card.md"),
        "model_card_html": str(target / "evaluation" / "model_card.html"),
        "metrics": str(target / "evaluation" / "metrics.json"),
    }
    with Registry.from_settings(settings) as registry:
        validation = registry.get_validation(validation_id)
        if validation.report_uri:
            artifacts["validation_report"] = str(validation.report_uri)
        version = registry.register_version(
            model,
            metrics=metrics,
            artifacts=artifacts,
            params=dict(spec.trainer.params)
            | {
                "num_boost_round": spec.trainer.num_boost_round,
                "early_stopping_rounds": spec.trainer.early_stopping_rounds,
            },
            lineage={
                "dataset_version": dataset_version,
                "validation_id": validation_id,
                "feature_service": spec.features.feature_service,
                "feature_views": list(spec.features.feature_views),
                "code": code_version(settings.root),
                "trainer": spec.trainer.kind,
                "ray": training.get("ray", {}),
                "training": {k: v for k, v in training.items() if k != "ray"},
                "spec": spec.model_dump(mode="json", include={"name", "task", "trainer", "evaluation"}),
            },
            owner=spec.owner.email,
            team=spec.team,
            created_by=settings.actor,
            dataset_version=dataset_version,
            description=spec.description,
        )
    return {"model": model, "version": version.version, "stage": version.stage, "artifacts": artifacts}


@_step
def package(model: str, version: int, settings: Settings) -> dict[str, Any]:
    """Save the version's model into BentoML's store and build its bento (Dockerfile included)."""
    from cxops.registry import Registry
    from cxops.serving.packaging import build_bento, save_bento_model

    spec = load_spec(model, settings)
    with Registry.from_settings(settings) as registry:
        record = registry.get_version(model, version)
        model_tag = save_bento_model(spec, Path(record.artifacts["model"]), version, settings)
        bento_tag = build_bento(spec, model_tag, settings)
        registry.set_bento(model, version, str(bento_tag))
    return {"model": model, "version": version, "bento_model": str(model_tag), "bento": str(bento_tag)}
