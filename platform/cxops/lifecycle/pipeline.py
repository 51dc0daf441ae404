"""Run the KFP training pipeline locally (`kfp.local`), or compile it to IR YAML for a cluster."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cxops.config import Settings
from cxops.errors import CXOpsError
from cxops.specs import list_specs, load_spec

__all__ = [
    "COMPILED_MODELS",
    "COMPILED_PIPELINE",
    "compile_model_pipelines",
    "compile_pipeline",
    "run_pipeline",
]

COMPILED_PIPELINE = Path("pipelines") / "compiled" / "training_pipeline.yaml"
COMPILED_MODELS = Path("pipelines") / "compiled" / "models"
"""One pipeline per model, its train step sized from the spec (`<model>.yaml`)."""


def _pipelines_module(settings: Settings):
    root = str(settings.root.resolve())
    if root not in sys.path:
        sys.path.insert(0, root)
    import pipelines.training

    return pipelines.training


def _training_pipeline(settings: Settings):
    return _pipelines_module(settings).training_pipeline


@contextlib.contextmanager
def _environment(settings: Settings) -> Iterator[None]:
    """Steps run as subprocesses that read `CXOPS_*`: hand them exactly these settings."""
    saved = dict(os.environ)
    os.environ.update(settings.to_env())
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_pipeline(
    model: str,
    settings: Settings,
    *,
    data_path: str = "",
    rows: int = 5000,
    seed: int = 7,
    trigger: str = "",
) -> dict[str, Any]:
    """Run the whole training pipeline for `model` with `kfp.local` and return the registered version."""
    from kfp import local

    from cxops.registry import Registry

    load_spec(model, settings)  # fail fast, before any subprocess, on an unknown or invalid model
    if data_path:
        data_path = str(Path(data_path).resolve())
    pipeline = _training_pipeline(settings)
    runs = settings.subdir("pipeline_runs")
    with _environment(settings), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*non-Python base image.*")
        local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(runs))
        try:
            task = pipeline(model=model, data_path=data_path, rows=rows, seed=seed, trigger=trigger)
        except RuntimeError as exc:
            raise CXOpsError(
                f"training pipeline for '{model}' failed: {exc}. The failing step's log is printed "
                f"above; its outputs are under {runs}."
            ) from exc
    bento = task.output
    with Registry.from_settings(settings) as registry:
        version = registry.get_version(model)
    return {"model": model, "version": version.version, "bento": bento, "record": version}


def compile_pipeline(settings: Settings, out: Path | None = None) -> Path:
    """Compile the training pipeline to KFP IR YAML (default: the committed `pipelines/compiled/` file)."""
    from kfp import compiler

    out = out or settings.root / COMPILED_PIPELINE
    out.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(_training_pipeline(settings), str(out))
    return out


def compile_model_pipelines(settings: Settings, out_dir: Path | None = None) -> list[Path]:
    """Compile each model's cluster pipeline (`<out_dir>/<model>.yaml`; default the committed
    `pipelines/compiled/models/`): the train step asks for the spec's CPUs, memory and GPUs when it trains
    in its own pod (`training_backend=ray` without `ray_address`); with a RayJob the RayJob asks for them."""
    from kfp import compiler

    module = _pipelines_module(settings)
    out_dir = out_dir or settings.root / COMPILED_MODELS
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in list_specs(settings):
        path = out_dir / f"{name}.yaml"
        compiler.Compiler().compile(module.model_pipeline(load_spec(name, settings), settings), str(path))
        paths.append(path)
    return paths
