"""Train a spec's tabular model: stratified split, XGBoost on Ray Train (or in-process), threshold choice.

`train` returns the `TabularClassifier` that evaluation, registration and serving use, plus what a
lineage record needs: the split, the best iteration, the threshold and how it was chosen, the Ray
resources used and how long each part took.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import xgboost as xgb

from cxops.config import Settings
from cxops.errors import CXOpsError, InvalidInputError
from cxops.modeling import TabularClassifier
from cxops.specs import ModelSpec
from cxops.training._fit import fit_booster, plain_frame, train_loop_per_worker
from cxops.training.threshold import choose_threshold

__all__ = ["Backend", "RayUsage", "TrainingResult", "labels_to_binary", "split_train_validation", "train"]

Backend = Literal["ray", "local"]
_CHECKPOINT_FILE = "model.ubj"


@dataclass(frozen=True)
class RayUsage:
    """How the model was trained: backend, workers and the resources they held."""

    backend: str
    num_workers: int
    use_gpu_requested: bool
    use_gpu: bool
    resources_per_worker: dict[str, float]
    cluster: dict[str, Any]
    device: str


@dataclass
class TrainingResult:
    classifier: TabularClassifier
    booster: xgb.Booster
    best_iteration: int
    threshold: float
    threshold_metric: str
    validation: dict[str, float]
    """Scores of the chosen model on the validation split (threshold metric, ROC-AUC, stopping metric)."""
    ray: RayUsage
    durations: dict[str, float]
    """Seconds: ray_start, fit (Ray Train run or in-process fit), threshold, total."""
    rows: dict[str, int]
    params: dict[str, Any] = field(default_factory=dict)

    def save(self, directory: Path) -> Path:
        return self.classifier.save(directory)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no booster) for lineage records and model cards."""
        return {
            "model_name": self.classifier.model_name,
            "best_iteration": self.best_iteration,
            "threshold": self.threshold,
            "threshold_metric": self.threshold_metric,
            "validation": self.validation,
            "ray": asdict(self.ray),
            "durations": {k: round(v, 3) for k, v in self.durations.items()},
            "rows": self.rows,
            "params": self.params,
        }


def labels_to_binary(labels: pd.Series, spec: ModelSpec) -> np.ndarray:
    """1 for the spec's positive label, 0 for the other allowed label; anything else is an error."""
    allowed = spec.data.column(spec.data.label).categories or []
    text = labels.astype(object).where(labels.notna(), None)
    bad = sorted({str(v) for v in text if v is None or str(v) not in allowed})
    if bad:
        raise InvalidInputError(
            f"model '{spec.name}': label column '{spec.data.label}' holds values {bad[:5]} "
            f"outside its categories {allowed}; fix or drop those rows"
        )
    return (text.astype(str) == spec.data.positive_label).to_numpy(dtype=np.int8)


def split_train_validation(
    frame: pd.DataFrame, y: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of a stratified (train, validation) split; same seed, same split."""
    from sklearn.model_selection import train_test_split

    positions = np.arange(len(frame))
    counts = np.bincount(y, minlength=2)
    if counts.min() < 2:
        raise InvalidInputError(
            f"a stratified split needs at least 2 rows of each class; got {counts[0]} "
            f"negative and {counts[1]} positive rows"
        )
    train_idx, valid_idx = train_test_split(
        positions, test_size=fraction, stratify=y, random_state=seed % (2**32)
    )
    return np.sort(train_idx), np.sort(valid_idx)


def _check_frame(frame: pd.DataFrame, spec: ModelSpec) -> None:
    needed = [*spec.features.names, spec.data.label]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"model '{spec.name}': training frame lacks columns {missing}; it needs the "
            f"spec's features.inputs and the label '{spec.data.label}'"
        )
    if len(frame) < 10:
        raise InvalidInputError(f"model '{spec.name}': {len(frame)} training rows are too few to train on")


def _config(spec: ModelSpec, y_train: np.ndarray) -> dict[str, Any]:
    params: dict[str, Any] = dict(spec.trainer.params)
    positives = int(y_train.sum())
    # Default for specs that do not choose: weight the minority class so the trees do not settle for
    # predicting the majority (the churn spec sets 1.0 and handles imbalance with its threshold).
    params.setdefault("scale_pos_weight", (len(y_train) - positives) / max(positives, 1))
    params.setdefault("seed", spec.trainer.seed % (2**31))
    return {
        "params": params,
        "num_boost_round": spec.trainer.num_boost_round,
        "early_stopping_rounds": spec.trainer.early_stopping_rounds,
        "inputs": [c.model_dump() for c in spec.features.inputs],
        "checkpoint_file": _CHECKPOINT_FILE,
        "cpus_per_worker": spec.trainer.scaling.cpus_per_worker,
    }


def train(
    spec: ModelSpec,
    frame: pd.DataFrame,
    settings: Settings,
    *,
    backend: Backend | None = None,
    progress: Callable[[str], Any] = print,
    storage_path: str | Path | None = None,
) -> TrainingResult:
    """Train `spec`'s model on `frame` (its feature inputs and string labels).

    `backend`: "ray" runs the fit on Ray Train workers as the spec's scaling asks (GPU workers when
    the cluster has GPUs); "local" runs the same function in this process with no Ray (fast for
    cross-validation). Default: "local" when the spec asks for 0 workers, else "ray". Both give the
    same model for the same data when Ray uses one worker.
    `storage_path`: where Ray Train persists the checkpoint; it must be reachable from every Ray node
    (shared storage for a remote cluster). Default: a temporary folder in the CXOps home, removed
    once the booster is loaded.
    """
    started = time.perf_counter()
    backend = backend or ("local" if spec.trainer.scaling.num_workers == 0 else "ray")
    if backend not in ("ray", "local"):
        raise InvalidInputError(f"training backend '{backend}' is not known; use 'ray' or 'local'")
    _check_frame(frame, spec)
    y = labels_to_binary(frame[spec.data.label], spec)
    train_idx, valid_idx = split_train_validation(
        frame, y, spec.trainer.validation_fraction, spec.trainer.seed
    )
    y_train, y_valid = y[train_idx], y[valid_idx]
    config = _config(spec, y_train)
    inputs = list(spec.features.inputs)
    train_plain = plain_frame(frame.iloc[train_idx], inputs, y_train)
    valid_plain = plain_frame(frame.iloc[valid_idx], inputs, y_valid)
    durations: dict[str, float] = {"ray_start": 0.0}

    if backend == "local":
        fit_started = time.perf_counter()
        nthread = settings.ray_num_cpus or os.cpu_count() or 1
        local_config = {**config, "params": {**config["params"], "nthread": nthread}}
        progress(f"training '{spec.name}' in-process on {len(train_plain)} rows ({nthread} threads)")
        booster, info = fit_booster(train_plain, valid_plain, local_config)
        durations["fit"] = time.perf_counter() - fit_started
        usage = RayUsage(
            backend="local",
            num_workers=0,
            use_gpu_requested=spec.trainer.scaling.use_gpu,
            use_gpu=False,
            resources_per_worker={"CPU": float(nthread)},
            cluster={},
            device=info["device"],
        )
    else:
        booster, info, usage, ray_durations = _fit_on_ray(
            spec, settings, config, train_plain, valid_plain, progress=progress, storage_path=storage_path
        )
        durations.update(ray_durations)

    booster.set_param({"device": "cpu"})  # the artifact scores anywhere, whatever it was trained on
    threshold_started = time.perf_counter()
    classifier = TabularClassifier.from_spec(spec, booster, 0.5)
    valid_proba = classifier.predict_proba(frame.iloc[valid_idx])
    threshold, score = choose_threshold(y_valid, valid_proba, spec.trainer.threshold_metric)
    classifier.threshold = threshold
    validation = {
        spec.trainer.threshold_metric: score,
        "roc_auc": _roc_auc(y_valid, valid_proba),
        info["stopping_metric"]: info["best_score"],
    }
    durations["threshold"] = time.perf_counter() - threshold_started
    durations["total"] = time.perf_counter() - started
    rows = {
        "total": len(frame),
        "train": len(train_idx),
        "validation": len(valid_idx),
        "train_positive": int(y_train.sum()),
        "validation_positive": int(y_valid.sum()),
    }
    classifier.metadata.update(
        {
            "trained_with": usage.backend,
            "best_iteration": info["best_iteration"],
            "threshold_metric": spec.trainer.threshold_metric,
            "validation": validation,
            "rows": rows,
        }
    )
    progress(
        f"trained '{spec.name}': best iteration {info['best_iteration']}, validation ROC-AUC "
        f"{validation['roc_auc']:.3f}, threshold {threshold:.3f} "
        f"({spec.trainer.threshold_metric} {score:.3f}) in {durations['total']:.1f}s"
    )
    return TrainingResult(
        classifier=classifier,
        booster=booster,
        best_iteration=info["best_iteration"],
        threshold=threshold,
        threshold_metric=spec.trainer.threshold_metric,
        validation=validation,
        ray=usage,
        durations=durations,
        rows=rows,
        params=config["params"],
    )


def _roc_auc(y: np.ndarray, proba: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, proba)) if len(np.unique(y)) == 2 else float("nan")


def _fit_on_ray(
    spec: ModelSpec,
    settings: Settings,
    config: dict[str, Any],
    train_plain: pd.DataFrame,
    valid_plain: pd.DataFrame,
    *,
    progress: Callable[[str], Any],
    storage_path: str | Path | None,
    loop: Callable[[dict[str, Any]], None] = train_loop_per_worker,
    split_train: bool = True,
) -> tuple[xgb.Booster, dict, RayUsage, dict[str, float]]:
    """Fit with `loop` on Ray Train workers. `split_train=False` hands every worker the whole training
    set (the ranking loop keeps whole queries per worker itself)."""
    from cxops.training.ray_runtime import ensure_ray, resolve_scaling

    ray_started = time.perf_counter()
    runtime = ensure_ray(settings)
    durations = {"ray_start": time.perf_counter() - ray_started}

    import ray.data
    import ray.train
    from ray.train.xgboost import XGBoostTrainer

    scaling = resolve_scaling(spec.trainer.scaling)
    if scaling.num_workers == 0:
        raise InvalidInputError(
            f"model '{spec.name}': Ray training needs at least one worker; use "
            f"backend='local' to train in this process"
        )
    resources = dict(scaling.resources_per_worker or {})
    device = "GPU" if scaling.use_gpu else "CPU"
    progress(
        f"training '{spec.name}' on Ray Train: {scaling.num_workers} {device} worker(s), "
        f"{resources} each, {len(train_plain)} rows"
    )
    own_storage = storage_path is None
    storage = (
        Path(tempfile.mkdtemp(prefix="ray-train-", dir=settings.subdir("tmp")))
        if own_storage
        else storage_path
    )
    fit_started = time.perf_counter()
    try:
        trainer = XGBoostTrainer(
            loop,
            train_loop_config=config,
            scaling_config=scaling,
            datasets={
                "train": ray.data.from_pandas(train_plain),
                "validation": ray.data.from_pandas(valid_plain),
            },
            # Every worker evaluates the whole validation set (XGBoost all-reduces the metric, so copies do
            # not change it); splitting only what must be split spares a coordinator actor per dataset.
            dataset_config=ray.train.DataConfig(
                datasets_to_split=["train"] if scaling.num_workers > 1 and split_train else []
            ),
            run_config=ray.train.RunConfig(
                name=f"{spec.name}-{uuid.uuid4().hex[:8]}", storage_path=str(storage)
            ),
        )
        try:
            result = trainer.fit()
        except Exception as exc:  # TrainingFailedError wraps the worker's own exception
            raise CXOpsError(f"model '{spec.name}': Ray Train run failed: {exc}") from exc
        if result.checkpoint is None:
            raise CXOpsError(
                f"model '{spec.name}': Ray Train finished without a checkpoint; see the worker "
                f"logs in {storage}"
            )
        with result.checkpoint.as_directory() as ckpt:
            booster = xgb.Booster()
            booster.load_model(Path(ckpt, _CHECKPOINT_FILE).as_posix())
        info = dict(result.metrics)
    finally:
        if own_storage:
            shutil.rmtree(storage, ignore_errors=True)
    durations["fit"] = time.perf_counter() - fit_started
    usage = RayUsage(
        backend="ray",
        num_workers=scaling.num_workers,
        use_gpu_requested=spec.trainer.scaling.use_gpu,
        use_gpu=bool(scaling.use_gpu),
        resources_per_worker=resources,
        cluster=runtime.to_dict(),
        device=info["device"],
    )
    return booster, info, usage, durations
