"""The one training function, run by every Ray Train worker or in-process by the local backend.

Both backends hand it the same plain frames (categories as text, numbers as float, a 0/1 label and a
row number) and it encodes them itself from the spec inputs: Ray Data stores frames as Arrow and does
not keep pandas categoricals, so the encoding must happen where the DMatrix is built.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from cxops.modeling.tabular import encode_inputs
from cxops.specs import Column

__all__ = [
    "LABEL",
    "ROW",
    "boost",
    "fit_booster",
    "plain_frame",
    "report_fit",
    "train_loop_per_worker",
    "worker_config",
]

LABEL = "__label__"
ROW = "__row__"


def plain_frame(frame: pd.DataFrame, inputs: list[Column], label: np.ndarray) -> pd.DataFrame:
    """Spec inputs as Arrow-safe columns (text categories, float numbers) + the 0/1 label + row number."""
    encoded = encode_inputs(frame, inputs)
    out = {}
    for col in inputs:
        values = encoded[col.name]
        out[col.name] = (
            values.astype(object).where(values.notna(), None) if col.type == "category" else values
        )
    plain = pd.DataFrame(out, index=frame.index).reset_index(drop=True)
    plain[LABEL] = np.asarray(label, dtype=np.int8)
    plain[ROW] = np.arange(len(plain), dtype=np.int64)
    return plain


def _dmatrix(plain: pd.DataFrame, inputs: list[Column]) -> xgb.DMatrix:
    plain = plain.sort_values(ROW, kind="stable")  # a worker's shard may arrive in any block order
    return xgb.DMatrix(
        encode_inputs(plain, inputs), label=plain[LABEL].to_numpy(dtype=np.float32), enable_categorical=True
    )


def fit_booster(train: pd.DataFrame, valid: pd.DataFrame, config: dict[str, Any]) -> tuple[xgb.Booster, dict]:
    """Boost with early stopping on `valid`; the booster is cut back to its best iteration."""
    inputs = [Column(**c) for c in config["inputs"]]
    started = time.perf_counter()
    return boost(_dmatrix(train, inputs), _dmatrix(valid, inputs), config, started)


def boost(
    dtrain: xgb.DMatrix, dvalid: xgb.DMatrix, config: dict[str, Any], started: float
) -> tuple[xgb.Booster, dict]:
    """`xgb.train` with early stopping on `dvalid`, cut back to the best iteration, and what it did
    (`fit_seconds` counts from `started`). Shared by the classifier and the ranker."""
    params = dict(config["params"])
    params.setdefault("tree_method", "hist")
    params["device"] = config.get("device", "cpu")
    evals_log: dict = {}
    stopper = xgb.callback.EarlyStopping(
        rounds=int(config["early_stopping_rounds"]), save_best=True, data_name="validation"
    )
    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=int(config["num_boost_round"]),
        evals=[(dvalid, "validation")],
        evals_result=evals_log,
        callbacks=[stopper],
        verbose_eval=False,
    )
    metric = next(iter(evals_log["validation"]))
    curve = evals_log["validation"][metric]
    best = booster.attr("best_iteration")  # set by early stopping, kept through the cut-back
    best_iteration = int(best) if best is not None else len(curve) - 1
    info = {
        "best_iteration": best_iteration,
        "best_score": float(curve[best_iteration]),
        "stopping_metric": metric,
        "rounds_run": len(curve),
        "device": params["device"],
        "train_rows": int(dtrain.num_row()),
        "validation_rows": int(dvalid.num_row()),
        "fit_seconds": time.perf_counter() - started,
    }
    return booster, info


def worker_config(config: dict[str, Any]) -> dict[str, Any]:
    """The fit config on a Ray Train worker: its device (a GPU when it holds one) and thread count."""
    import ray

    config = dict(config)
    config["device"] = "cuda" if ray.get_gpu_ids() else "cpu"
    config["params"] = {**config["params"], "nthread": max(1, int(config.get("cpus_per_worker", 1)))}
    return config


def report_fit(booster: xgb.Booster, info: dict[str, Any], config: dict[str, Any]) -> None:
    """Report once per worker; rank 0 attaches the booster as the checkpoint.

    Reporting once (not per boosting round) matters: each `ray.train.report` is a barrier that waits
    on the controller's poll.
    """
    import tempfile
    from pathlib import Path

    import ray.train

    rank = ray.train.get_context().get_world_rank()
    info = {**info, "worker_rank": rank}
    if rank == 0:
        with tempfile.TemporaryDirectory() as tmp:
            booster.save_model(Path(tmp, config["checkpoint_file"]).as_posix())
            ray.train.report(info, checkpoint=ray.train.Checkpoint.from_directory(tmp))
    else:
        ray.train.report(info)


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """Ray Train worker: read this worker's shards, fit, report once at the end with the checkpoint."""
    import ray.train

    train = ray.train.get_dataset_shard("train").materialize().to_pandas()
    valid = ray.train.get_dataset_shard("validation").materialize().to_pandas()
    config = worker_config(config)
    booster, info = fit_booster(train, valid, config)
    report_fit(booster, info, config)
