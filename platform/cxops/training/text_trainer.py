"""Train a text model: stratified split, the head (and, on GPUs, the encoder) trained on Ray Train.

`train_text` returns the `TextClassifier` that evaluation, registration and serving use, plus what a
lineage record needs: the classes, the split, the training mode (frozen or fine-tuned encoder), the
validation scores, the Ray resources used and how long each part took.
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
from typing import Any

import numpy as np
import pandas as pd

from cxops.config import Settings
from cxops.errors import CXOpsError, InvalidInputError
from cxops.modeling.text import ENCODER_DIR, HeadConfig, TextClassifier, build_head, prepare_texts
from cxops.specs import ModelSpec
from cxops.training._text_fit import LABEL, TEXT, fit_frozen, train_loop_per_worker
from cxops.training.trainer import Backend, RayUsage

__all__ = ["TextTrainingResult", "classes_of", "train_text"]


@dataclass
class TextTrainingResult:
    classifier: TextClassifier
    validation: dict[str, float]
    ray: RayUsage
    durations: dict[str, float]
    rows: dict[str, int]
    mode: str
    params: dict[str, Any] = field(default_factory=dict)

    def save(self, directory: Path) -> Path:
        """Save the classifier; a fine-tuned encoder's temporary copy moves into the artifact."""
        temporary = self.classifier.encoder_path
        self.classifier.save(directory)
        if temporary is not None:
            self.classifier.encoder_path = Path(directory) / ENCODER_DIR
            shutil.rmtree(temporary, ignore_errors=True)
        return Path(directory)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_name": self.classifier.model_name,
            "classes": list(self.classifier.classes),
            "mode": self.mode,
            "encoder": self.classifier.encoder,
            "validation": self.validation,
            "ray": asdict(self.ray),
            "durations": {k: round(v, 3) for k, v in self.durations.items()},
            "rows": self.rows,
            "params": self.params,
        }


def classes_of(labels: pd.Series, spec: ModelSpec) -> list[str]:
    """The classes the data holds, in the order the spec declares them (its categories, then the real
    dataset's label set); a label the spec does not know is an error."""
    declared = list(dict.fromkeys([*spec.label_categories, *(spec.data.real_dataset_labels or [])]))
    present = set(labels.dropna().astype(str))
    unknown = sorted(present - set(declared))
    if unknown or labels.isna().any():
        shown = unknown[:5] + (["<missing>"] if labels.isna().any() else [])
        raise InvalidInputError(
            f"model '{spec.name}': label column '{spec.data.label}' holds values {shown} outside the "
            f"spec's label sets; fix or drop those rows"
        )
    classes = [c for c in declared if c in present]
    if len(classes) < 2:
        raise InvalidInputError(f"model '{spec.name}': the data holds {len(classes)} class(es); need 2+")
    return classes


def _split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    counts = np.bincount(y)
    rare = counts[counts > 0].min()
    positions = np.arange(len(y))
    # Stratify when every class can appear on both sides; a class with one example stays in training.
    stratify = y if rare >= 2 else None
    train_idx, valid_idx = train_test_split(
        positions, test_size=fraction, stratify=stratify, random_state=seed % (2**32)
    )
    return np.sort(train_idx), np.sort(valid_idx)


def train_text(
    spec: ModelSpec,
    frame: pd.DataFrame,
    settings: Settings,
    *,
    backend: Backend | None = None,
    progress: Callable[[str], Any] = print,
    storage_path: str | Path | None = None,
) -> TextTrainingResult:
    """Train `spec`'s text model on `frame` (its text column and string labels).

    `backend`: "ray" runs on Ray Train workers as the spec's scaling asks (GPU workers when the cluster
    has them; the encoder is fine-tuned there when the spec asks); "local" trains the frozen-encoder
    head in this process (cross-validation, tests). Default: "local" for 0 workers, else "ray".
    """
    started = time.perf_counter()
    assert spec.text is not None
    backend = backend or ("local" if spec.trainer.scaling.num_workers == 0 else "ray")
    if backend not in ("ray", "local"):
        raise InvalidInputError(f"training backend '{backend}' is not known; use 'ray' or 'local'")
    column = spec.text.column
    missing = [c for c in (column, spec.data.label) if c not in frame.columns]
    if missing:
        raise InvalidInputError(f"model '{spec.name}': training frame lacks columns {missing}")
    if len(frame) < 20:
        raise InvalidInputError(f"model '{spec.name}': {len(frame)} training rows are too few to train on")
    classes = classes_of(frame[spec.data.label], spec)
    index = {c: i for i, c in enumerate(classes)}
    y = frame[spec.data.label].astype(str).map(index).to_numpy(dtype=np.int64)
    texts = prepare_texts(frame[column], mask_pii=spec.text.mask_pii)
    train_idx, valid_idx = _split(y, spec.trainer.validation_fraction, spec.trainer.seed)
    config = {
        "params": dict(spec.trainer.params),
        "num_classes": len(classes),
        "seed": spec.trainer.seed % (2**31),
        "fine_tune_encoder": spec.trainer.fine_tune_encoder,
        "cpus_per_worker": spec.trainer.scaling.cpus_per_worker,
    }
    HeadConfig.from_params(config["params"])  # a typo in the spec fails here, not on a worker
    train_texts = [texts[i] for i in train_idx]
    valid_texts = [texts[i] for i in valid_idx]
    durations: dict[str, float] = {"ray_start": 0.0}
    encoder_dir: Path | None = None
    tmp_root = Path(tempfile.mkdtemp(prefix="text-train-", dir=settings.subdir("tmp")))
    try:
        if backend == "local":
            import torch

            torch.set_num_threads(settings.ray_num_cpus or os.cpu_count() or 1)
            progress(
                f"training '{spec.name}' in-process: frozen {spec.trainer.encoder} + head, "
                f"{len(train_idx)} messages, {len(classes)} classes"
            )
            fit_started = time.perf_counter()
            head, info = fit_frozen(train_texts, y[train_idx], valid_texts, y[valid_idx], config)
            durations["fit"] = time.perf_counter() - fit_started
            usage = RayUsage(
                backend="local",
                num_workers=0,
                use_gpu_requested=spec.trainer.scaling.use_gpu,
                use_gpu=False,
                resources_per_worker={"CPU": float(torch.get_num_threads())},
                cluster={},
                device="cpu",
            )
        else:
            head, info, usage, ray_durations, encoder_dir = _fit_on_ray(
                spec,
                settings,
                config,
                pd.DataFrame({TEXT: train_texts, LABEL: y[train_idx]}),
                pd.DataFrame({TEXT: valid_texts, LABEL: y[valid_idx]}),
                tmp_root,
                progress=progress,
                storage_path=storage_path,
            )
            durations.update(ray_durations)
        head_config = HeadConfig.from_params(config["params"])
        validation = {
            k.removeprefix("validation_"): v for k, v in info.items() if k.startswith("validation_")
        }
        validation.pop("rows", None)
        rows = {"total": len(frame), "train": len(train_idx), "validation": len(valid_idx)}
        classifier = TextClassifier.from_spec(
            spec,
            classes,
            head,
            head_config,
            encoder_path=encoder_dir,
            metadata={
                "trained_with": usage.backend,
                "mode": info["mode"],
                "validation": validation,
                "rows": rows,
            },
        )
        if encoder_dir is not None:
            # The fine-tuned encoder lives in the temporary folder: give the classifier its own copy.
            kept = settings.subdir("tmp") / f"encoder-{uuid.uuid4().hex[:8]}"
            shutil.copytree(encoder_dir, kept)
            classifier.encoder_path = kept
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    durations["total"] = time.perf_counter() - started
    progress(
        f"trained '{spec.name}' ({info['mode'].replace('_', ' ')} on {usage.device}): validation accuracy "
        f"{validation['accuracy']:.3f}, macro-F1 {validation['macro_f1']:.3f} in {durations['total']:.1f}s"
    )
    return TextTrainingResult(
        classifier=classifier,
        validation=validation,
        ray=usage,
        durations=durations,
        rows=rows,
        mode=info["mode"],
        params=config["params"],
    )


def _fit_on_ray(
    spec: ModelSpec,
    settings: Settings,
    config: dict[str, Any],
    train_plain: pd.DataFrame,
    valid_plain: pd.DataFrame,
    tmp_root: Path,
    *,
    progress: Callable[[str], Any],
    storage_path: str | Path | None,
) -> tuple[Any, dict, RayUsage, dict[str, float], Path | None]:
    from cxops.training.ray_runtime import ensure_ray, resolve_scaling

    ray_started = time.perf_counter()
    runtime = ensure_ray(settings)
    durations = {"ray_start": time.perf_counter() - ray_started}

    import ray.data
    import ray.train
    import torch
    from ray.train.torch import TorchTrainer

    scaling = resolve_scaling(spec.trainer.scaling)
    if scaling.num_workers == 0:
        raise InvalidInputError(
            f"model '{spec.name}': Ray training needs at least one worker; use backend='local' to train "
            "in this process"
        )
    resources = dict(scaling.resources_per_worker or {})
    device = "GPU" if scaling.use_gpu else "CPU"
    mode = "fine-tuned encoder" if spec.trainer.fine_tune_encoder and scaling.use_gpu else "frozen encoder"
    progress(
        f"training '{spec.name}' on Ray Train ({mode}): {scaling.num_workers} {device} worker(s), "
        f"{resources} each, {len(train_plain)} messages"
    )
    storage = str(storage_path) if storage_path else str(tmp_root / "ray")  # a URI stays a string
    fit_started = time.perf_counter()
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config=config,
        scaling_config=scaling,
        datasets={
            "train": ray.data.from_pandas(train_plain),
            "validation": ray.data.from_pandas(valid_plain),
        },
        dataset_config=ray.train.DataConfig(datasets_to_split=["train"] if scaling.num_workers > 1 else []),
        run_config=ray.train.RunConfig(name=f"{spec.name}-{uuid.uuid4().hex[:8]}", storage_path=storage),
    )
    try:
        result = trainer.fit()
    except Exception as exc:  # TrainingFailedError wraps the worker's own exception
        raise CXOpsError(f"model '{spec.name}': Ray Train run failed: {exc}") from exc
    if result.checkpoint is None:
        raise CXOpsError(f"model '{spec.name}': Ray Train finished without a checkpoint; see {storage}")
    info = dict(result.metrics)
    head = build_head(HeadConfig.from_params(config["params"]), config["num_classes"])
    encoder_dir = None
    with result.checkpoint.as_directory() as ckpt:
        head.load_state_dict(torch.load(Path(ckpt, "head.pt"), map_location="cpu", weights_only=True))
        if Path(ckpt, "encoder").is_dir():
            encoder_dir = tmp_root / "encoder"
            shutil.copytree(Path(ckpt, "encoder"), encoder_dir)
    head.eval()
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
    return head, info, usage, durations, encoder_dir
