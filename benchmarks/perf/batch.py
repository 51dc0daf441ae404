"""Batch scoring of a million subscribers with `cxops score churn`, against the model's own predict.

The input is the churn training data's raw rows (label and timestamp dropped, as a CRM export has
them), resampled to `rows` subscribers with unique ids and written as parquet. The CLI is timed end to
end in its own process (reading, type coercion, the model's feature derivation and encoding, XGBoost,
writing the scores). The baseline is the raw XGBoost booster's `predict` on the same rows, already
encoded in memory, on every core (as the CLI uses them): the model alone, with no input or output.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from cxops.data.loaders import coerce
from cxops.modeling import load_classifier
from cxops.registry import Registry
from cxops.specs import load_model_code, load_spec

from .home import BenchHome

MODEL = "churn"


def make_input(bench: BenchHome, rows: int, path: Path) -> Path:
    settings = bench.settings
    spec = load_spec(MODEL, settings)
    with Registry.from_settings(settings) as registry:
        record = registry.get_version(MODEL, bench.pipelines[MODEL]["version"])
        dataset = registry.get_dataset(MODEL, record.lineage["dataset_version"])
    raw = pd.read_parquet(dataset.uri).drop(columns=[spec.data.label, spec.data.timestamp], errors="ignore")
    rng = np.random.default_rng(5)
    frame = raw.iloc[rng.integers(0, len(raw), rows)].reset_index(drop=True)
    key = spec.data.entity_key
    frame[key] = frame[key].astype(str) + "-" + pd.RangeIndex(rows).astype(str)
    frame.to_parquet(path, index=False)
    return path


def _raw_predict(bench: BenchHome, path: Path, repeats: int = 3) -> tuple[float, np.ndarray]:
    settings = bench.settings
    spec = load_spec(MODEL, settings)
    with Registry.from_settings(settings) as registry:
        record = registry.get_version(MODEL, bench.pipelines[MODEL]["version"])
    classifier = load_classifier(Path(record.artifacts["model"]))
    classifier.booster.set_param({"nthread": os.cpu_count() or 1})  # every core, as `cxops score` uses
    derive = load_model_code(MODEL, settings).derive_features
    encoded = classifier.encode(derive(coerce(pd.read_parquet(path), spec, require_label=False)))
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        proba = classifier.booster.predict(xgb.DMatrix(encoded, enable_categorical=True))  # its own API
        best = min(best, time.perf_counter() - started)
    return best, proba


def run(bench: BenchHome, progress, *, rows: int) -> dict[str, Any]:
    work = bench.settings.subdir("bench")
    source = make_input(bench, rows, work / "subscribers.parquet")
    progress(f"  {rows:,} subscribers written to {source.name}")
    raw_seconds, raw_proba = _raw_predict(bench, source)
    progress(f"  raw booster.predict: {rows / raw_seconds:,.0f} rows/s")
    output = work / "scores.parquet"
    env = {**os.environ, **bench.settings.to_env()}
    cli = str(Path(sys.executable).with_name("cxops"))
    started = time.perf_counter()
    subprocess.run(
        [cli, "score", MODEL, "-i", str(source), "-o", str(output)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    cli_seconds = time.perf_counter() - started
    scores = pd.read_parquet(output)
    difference = float(np.abs(scores[f"{MODEL}_probability"].to_numpy() - raw_proba).max())
    if len(scores) != rows or difference > 1e-6:
        raise RuntimeError(f"cxops score wrote {len(scores)} rows; largest difference {difference:g}")
    progress(f"  cxops score churn: {rows / cli_seconds:,.0f} rows/s ({cli_seconds:.1f} s)")
    return {
        "rows": rows,
        "input": "parquet, the raw subscriber schema",
        "cli_seconds": round(cli_seconds, 2),
        "cli_rows_per_s": round(rows / cli_seconds),
        "raw_predict_seconds": round(raw_seconds, 2),
        "raw_predict_rows_per_s": round(rows / raw_seconds),
        "ratio_cli_to_raw": round(raw_seconds / cli_seconds, 2),
        "largest_probability_difference": difference,
    }
