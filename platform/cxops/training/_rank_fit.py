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
from cxops.training._fit import LABEL, ROW, boost, report_fit, worker_config

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
    booster, info = boost(_dmatrix(train, inputs), _dmatrix(valid, inputs), config, started)
    info["train_queries"] = int(train[QID].nunique())
    info["validation_queries"] = int(valid[QID].nunique())
    return booster, info


def rank_loop_per_worker(config: dict[str, Any]) -> None:
    """Ray Train worker: keep this worker's queries, fit (XGBoost all-reduces across workers), report once."""
    import ray.train

    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    train = worker_queries(ray.train.get_dataset_shard("train").materialize().to_pandas(), rank, world)
    valid = ray.train.get_dataset_shard("validation").materialize().to_pandas()
    config = worker_config(config)
    booster, info = fit_ranker(train, valid, config)
    report_fit(booster, info, config)
