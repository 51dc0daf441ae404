"""The ranking fit, run by every Ray Train worker or in-process by the local backend.

Rows are (customer, offer) pairs; a customer's pairs form one query (`__qid__`, an integer). XGBoost's
LambdaMART needs each query's rows together and in query order, and a query must never be cut between
workers, so workers do not receive Ray Data shards: each reads the whole (small) pair table and keeps
the queries whose id falls to its rank.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from cxops.modeling.tabular import encode_inputs
from cxops.specs import Column
from cxops.training._fit import LABEL, ROW

__all__ = ["QID", "fit_ranker", "rank_loop_per_worker", "worker_queries"]

QID = "__qid__"


def _dmatrix(plain: pd.DataFrame, inputs: list[Column]) -> xgb.DMatrix:
    plain = plain.sort_values([QID, ROW], kind="stable")
    return xgb.DMatrix(
        encode_inputs(plain, inputs),
        label=plain[LABEL].to_numpy(dtype=np.float32),
        qid=plain[QID].to_numpy(dtype=np.int64),
        enable_categorical=True,
    )


def worker_queries(plain: pd.DataFrame, rank: int, world_size: int) -> pd.DataFrame:
    """This worker's whole queries: those whose id modulo the number of workers is its rank."""
    return plain[plain[QID] % world_size == rank]


def fit_ranker(train: pd.DataFrame, valid: pd.DataFrame, config: dict[str, Any]) -> tuple[xgb.Booster, dict]:
    """LambdaMART with early stopping on `valid`'s ranking metric; cut back to the best iteration."""
    inputs = [Column(**c) for c in config["inputs"]]
    started = time.perf_counter()
    dtrain, dvalid = _dmatrix(train, inputs), _dmatrix(valid, inputs)
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
    best = booster.attr("best_iteration")
    best_iteration = int(best) if best is not None else len(curve) - 1
    info = {
        "best_iteration": best_iteration,
        "best_score": float(curve[best_iteration]),
        "stopping_metric": metric,
        "rounds_run": len(curve),
        "device": params["device"],
        "train_rows": int(dtrain.num_row()),
        "validation_rows": int(dvalid.num_row()),
        "train_queries": int(train[QID].nunique()),
        "validation_queries": int(valid[QID].nunique()),
        "fit_seconds": time.perf_counter() - started,
    }
    return booster, info


def rank_loop_per_worker(config: dict[str, Any]) -> None:
    """Ray Train worker: keep this worker's queries, fit (XGBoost all-reduces across workers), report once."""
    import tempfile
    from pathlib import Path

    import ray
    import ray.train

    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    train = worker_queries(ray.train.get_dataset_shard("train").materialize().to_pandas(), rank, world)
    valid = ray.train.get_dataset_shard("validation").materialize().to_pandas()
    config = dict(config)
    config["device"] = "cuda" if ray.get_gpu_ids() else "cpu"
    config["params"] = {**config["params"], "nthread": max(1, int(config.get("cpus_per_worker", 1)))}
    booster, info = fit_ranker(train, valid, config)
    info["worker_rank"] = rank
    if rank == 0:
        with tempfile.TemporaryDirectory() as tmp:
            booster.save_model(Path(tmp, config["checkpoint_file"]).as_posix())
            ray.train.report(info, checkpoint=ray.train.Checkpoint.from_directory(tmp))
    else:
        ray.train.report(info)
