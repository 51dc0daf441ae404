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
from cxops.errors import InvalidInputError
from cxops.lifecycle._lineage import code_version
from cxops.monitoring.reference import BUNDLE_DIR, BUNDLE_FILE, write_drift_reference
from cxops.specs import ModelSpec, load_model_code, load_spec

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
        frame = coerce(_prepare_real(read_table(path), spec, settings), spec, observed_at=observed_at)
        source = str(path.resolve())
    else:
        frame = coerce(generate(spec.data.generator, n=rows, seed=seed), spec)
        source = f"generator:{spec.data.generator}?rows={rows}&seed={seed}"
    # Data minimisation: columns the spec does not declare (a tweet author's name, say) are not kept.
    frame = frame[[c.name for c in spec.data.columns]]
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


def _prepare_real(frame: pd.DataFrame, spec: ModelSpec, settings: Settings) -> pd.DataFrame:
    """A recommendation model turns a file of holdings (the IBM Telco file) into offer responses with its
    own code (leave-one-out); a file that already holds responses is kept as it is."""
    if spec.recommendation is None:
        return frame
    from cxops.recommendation.policy import load_offer_policy

    policy = load_offer_policy(settings, settings.root / spec.recommendation.policy)
    return load_model_code(spec.name, settings).prepare_real(frame, policy)


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
    if spec.text is not None:
        return _text_features(spec, raw, entities_path, settings)
    if spec.recommendation is not None:
        from cxops.lifecycle._recommendation import build_recommendation_features

        return build_recommendation_features(spec, raw, entities_path, settings)
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


def _text_features(
    spec: ModelSpec, raw: pd.DataFrame, entities_path: str, settings: Settings
) -> dict[str, Any]:
    """A text model's training frame: personal data masked in the text, sender ids pseudonymised, exact
    duplicates dropped (so that no message is in both the training and the test split)."""
    from cxops.privacy import pseudonymise_series
    from cxops.privacy.text_pii import count_pii, mask_series

    assert spec.text is not None
    frame = raw.copy()
    column = spec.text.column
    pii = count_pii(frame[column])
    if spec.text.mask_pii:
        frame[column] = mask_series(frame[column])
    key = settings.pseudonym_key_bytes()
    for name in spec.privacy.pseudonymised_fields:
        if name in frame.columns and name != spec.data.entity_key:
            present = frame[name].notna() & (frame[name].astype(str) != "")
            frame.loc[present, name] = pseudonymise_series(frame.loc[present, name], key)
    before = len(frame)
    frame = frame.drop_duplicates(subset=[column, spec.data.label], keep="first")
    Path(entities_path).parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(entities_path, index=False)
    return {
        "entities": len(frame),
        "duplicates_dropped": before - len(frame),
        "pii_masked": {k: v for k, v in pii.items() if v} if spec.text.mask_pii else {},
        "feature_service": f"text:{column}",
        "feature_views": [],
    }


@_step
def train(
    model: str,
    entities_path: str,
    model_dir: str,
    test_path: str,
    settings: Settings,
    *,
    train_path: str = "",
) -> dict[str, Any]:
    """Training set (point in time from Feast, or the masked messages), a held-out test split, and a
    model trained on Ray. The training split is kept at `train_path` for the evaluation's baseline."""
    from cxops.features import FeatureStoreClient
    from cxops.training import train as train_on_ray
    from cxops.training import train_text

    spec = load_spec(model, settings)
    entities = pd.read_parquet(entities_path)
    # A text model's feature is the (masked) text itself: no feature store lookup.
    frame = entities if spec.text is not None else FeatureStoreClient(settings).training_frame(spec, entities)
    train_frame, test_frame = _split_test(frame, spec)
    print(f"[train] {len(train_frame)} training rows, {len(test_frame)} held out for evaluation", flush=True)

    def progress(message: str) -> None:
        print(f"[train] {message}", flush=True)

    storage = settings.ray_storage  # None: a local folder (Ray on this machine)
    if spec.text is not None:
        result = train_text(spec, train_frame, settings, progress=progress, storage_path=storage)
    elif spec.recommendation is not None:
        from cxops.recommendation.policy import load_offer_policy
        from cxops.training import train_ranker

        policy = load_offer_policy(settings, settings.root / spec.recommendation.policy)
        result = train_ranker(
            spec, train_frame, settings, offer_ids=policy.offer_ids, progress=progress, storage_path=storage
        )
    else:
        result = train_on_ray(spec, train_frame, settings, progress=progress, storage_path=storage)
    result.save(Path(model_dir))
    write_drift_reference(spec, train_frame, Path(model_dir) / BUNDLE_DIR, seed=spec.trainer.seed)
    for path, part in ((test_path, test_frame), (train_path, train_frame)):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            part.to_parquet(path, index=False)
    summary = result.to_dict()
    (Path(model_dir) / _TRAINING_SUMMARY).write_text(json.dumps(summary, indent=2, default=str))
    return summary


def _split_test(frame: pd.DataFrame, spec: ModelSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified (train, test) split; a class too rare to appear on both sides stays in training. A
    ranking model's split is by customer: each customer's offers are all on one side."""
    from sklearn.model_selection import train_test_split

    if spec.recommendation is not None:
        from cxops.training.ranker import split_by_customer

        frame = frame.reset_index(drop=True)
        train_idx, test_idx = split_by_customer(
            frame[spec.features.join_key], spec.evaluation.test_fraction, spec.trainer.seed + 1
        )
        return frame.iloc[train_idx], frame.iloc[test_idx]

    labels = frame[spec.data.label]
    rare = labels.map(labels.value_counts()) < 2
    train_frame, test_frame = train_test_split(
        frame[~rare],
        test_size=spec.evaluation.test_fraction,
        stratify=labels[~rare],
        random_state=spec.trainer.seed,
    )
    return pd.concat([train_frame, frame[rare]]), test_frame


@_step
def evaluate(
    model: str, model_dir: str, test_path: str, out_dir: str, settings: Settings, *, train_path: str = ""
) -> dict[str, Any]:
    """Metrics, bias by segment and the model card, on the held-out test split (and, for text models,
    a TF-IDF baseline trained on the training split at `train_path`, for comparison)."""
    from cxops.evaluation import evaluate as run_evaluation
    from cxops.evaluation import write_model_card
    from cxops.modeling import load_classifier

    spec = load_spec(model, settings)
    classifier = load_classifier(Path(model_dir))
    if spec.recommendation is not None:
        return _evaluate_ranking(spec, classifier, test_path, train_path, out_dir, model_dir, settings)
    train_frame = pd.read_parquet(train_path) if train_path and spec.text is not None else None
    report = run_evaluation(classifier, pd.read_parquet(test_path), spec, train_frame=train_frame)
    training = json.loads((Path(model_dir) / _TRAINING_SUMMARY).read_text())
    paths = write_model_card(report, spec, Path(out_dir), training=training)
    predictions = report.write_predictions(Path(out_dir))
    summary = {
        # Flags such as `beats_baseline` are kept as 1.0 / 0.0 beside the metrics.
        "metrics": {
            k: float(v) for k, v in report.metrics.items() if isinstance(v, float | bool) and math.isfinite(v)
        },
        "passed": report.passed,
        "files": {"markdown": str(paths.markdown), "html": str(paths.html), "predictions": str(predictions)},
    }
    (Path(out_dir) / _EVALUATION_SUMMARY).write_text(json.dumps(summary, indent=2))
    return summary


def _evaluate_ranking(
    spec: ModelSpec,
    ranker: Any,
    test_path: str,
    train_path: str,
    out_dir: str,
    model_dir: str,
    settings: Settings,
) -> dict[str, Any]:
    """A ranking model against the popularity and co-occurrence baselines on held-out customers."""
    from cxops.evaluation import evaluate_ranking, write_ranking_card
    from cxops.recommendation.policy import load_offer_policy

    assert spec.recommendation is not None
    if not train_path:
        raise InvalidInputError(f"model '{spec.name}': the ranking evaluation needs the training split")
    policy = load_offer_policy(settings, settings.root / spec.recommendation.policy)
    report = evaluate_ranking(ranker, pd.read_parquet(test_path), pd.read_parquet(train_path), spec, policy)
    training = json.loads((Path(model_dir) / _TRAINING_SUMMARY).read_text())
    paths = write_ranking_card(report, spec, Path(out_dir), training)
    predictions = report.write_predictions(Path(out_dir))
    print(
        f"[evaluate] HR@{report.k} {report.metrics['hit_rate_at_k']:.3f} (popularity "
        f"{report.metrics['popularity_hit_rate_at_k']:.3f}, co-occurrence "
        f"{report.metrics['cooccurrence_hit_rate_at_k']:.3f}); NDCG@{report.k} "
        f"{report.metrics['ndcg_at_k']:.3f}",
        flush=True,
    )
    summary = {
        "metrics": {
            k: float(v)
            for k, v in report.metrics.items()
            if isinstance(v, float | int | bool) and math.isfinite(float(v))
        },
        "passed": report.passed,
        "files": {"markdown": str(paths.markdown), "html": str(paths.html), "predictions": str(predictions)},
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
    trigger: str = "",
) -> dict[str, Any]:
    """Record a new `candidate` version with its lineage and its artifacts (copied to a run directory).

    `trigger` says why it was trained (e.g. `alert:12` for a drift alert's retraining); empty: by hand."""
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
    if (target / "model" / BUNDLE_DIR / BUNDLE_FILE).exists():
        artifacts["drift_reference"] = str(target / "model" / BUNDLE_DIR)
    with Registry.from_settings(settings) as registry:
        validation = registry.get_validation(validation_id)
        if validation.report_uri:
            artifacts["validation_report"] = str(validation.report_uri)
        version = registry.register_version(
            model,
            metrics=metrics,
            artifacts=artifacts,
            params=_params(spec),
            lineage={
                "dataset_version": dataset_version,
                "validation_id": validation_id,
                "feature_service": spec.features.feature_service
                if spec.features
                else f"text:{spec.text.column}",
                "feature_views": list(spec.features.feature_views) if spec.features else [],
                "code": code_version(settings.root),
                "trainer": spec.trainer.kind,
                "trigger": trigger or "manual",
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


def _params(spec: ModelSpec) -> dict[str, Any]:
    params: dict[str, Any] = dict(spec.trainer.params)
    if spec.trainer.kind in ("xgboost", "xgboost_ranker"):
        params |= {
            "num_boost_round": spec.trainer.num_boost_round,
            "early_stopping_rounds": spec.trainer.early_stopping_rounds,
        }
    else:
        params |= {"encoder": spec.trainer.encoder, "fine_tune_encoder": spec.trainer.fine_tune_encoder}
    return params


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
        registry.set_bento(model, version, str(bento_tag), actor=settings.actor)
    return {"model": model, "version": version, "bento_model": str(model_tag), "bento": str(bento_tag)}
