"""Training wall time per model, and what Ray costs against the same training code in-process.

The pipelines of `home.prepare` give each model's whole wall time (kfp.local runs each step in its own
process: ingest, validate, features, train on Ray, evaluate, register, package) and the train step's own
durations (Ray start, Ray Train fit). The same trainer is then run here with `backend="local"` on the
very training split the pipeline's train step used.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pandas as pd

from cxops.registry import Registry
from cxops.specs import load_spec

from .home import BenchHome


def _local_fit_seconds(bench: BenchHome, model: str, frame: pd.DataFrame) -> float:
    from cxops.training import train, train_ranker, train_text

    settings = bench.settings
    spec = load_spec(model, settings)
    quiet = {"backend": "local", "progress": lambda _: None}
    started = time.perf_counter()
    if spec.text is not None:
        train_text(spec, frame, settings, **quiet)
    elif spec.recommendation is not None:
        from cxops.recommendation.policy import load_offer_policy

        policy = load_offer_policy(settings, settings.root / spec.recommendation.policy)
        train_ranker(spec, frame, settings, offer_ids=policy.offer_ids, **quiet)
    else:
        train(spec, frame, settings, **quiet)
    return time.perf_counter() - started


def run(bench: BenchHome, progress) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with Registry.from_settings(bench.settings) as registry:
        records = {m: registry.get_version(m, p["version"]) for m, p in bench.pipelines.items()}
    for model, pipeline in bench.pipelines.items():
        step = pipeline["run_dir"] / "train-op"
        summary = json.loads((step / "trained" / "training.json").read_text())
        durations = summary["durations"]
        frame = pd.read_parquet(step / "train_set")
        local = _local_fit_seconds(bench, model, frame)
        ray_total = durations["total"]
        results[model] = {
            "pipeline_wall_s": pipeline["wall_s"],
            "data": pipeline["data"],
            "training_rows": len(frame),
            "train_step_on_ray_s": round(ray_total, 1),
            "ray_start_s": round(durations.get("ray_start", 0.0), 1),
            "ray_fit_s": round(durations.get("fit", 0.0), 1),
            "same_training_in_process_s": round(local, 1),
            "ray_overhead_s": round(ray_total - local, 1),
            "ray_workers": records[model].lineage["ray"].get("num_workers"),
        }
        progress(
            f"  {model:15s} pipeline {pipeline['wall_s']:.0f} s; train step on Ray {ray_total:.1f} s "
            f"(start {durations.get('ray_start', 0):.1f} s), in-process {local:.1f} s"
        )
    return {"models": results}
