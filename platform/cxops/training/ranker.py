"""Train a recommendation spec's ranker: LambdaMART over (customer, offer) pairs on Ray Train (or in-process).

Each customer is one query: the offers made to them, accepted (relevant) or declined. The validation
split is by customer, so no customer's queries are on both sides; early stopping watches the spec's
ranking metric (NDCG@k). The popularity ranking of the training data is kept with the model: it is the
ranking a customer who objected to profiling receives.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxops.config import Settings
from cxops.errors import InvalidInputError
from cxops.modeling import OfferRanker
from cxops.specs import ModelSpec
from cxops.training._fit import plain_frame
from cxops.training._rank_fit import QID, fit_ranker, rank_loop_per_worker
from cxops.training.trainer import Backend, RayUsage, _fit_on_ray, labels_to_binary

__all__ = ["RankingResult", "popularity_ranking", "split_by_customer", "train_ranker"]

_CHECKPOINT_FILE = "model.ubj"


@dataclass
class RankingResult:
    classifier: OfferRanker
    best_iteration: int
    validation: dict[str, float]
    ray: RayUsage
    durations: dict[str, float]
    rows: dict[str, int]
    params: dict[str, Any] = field(default_factory=dict)

    def save(self, directory: Path) -> Path:
        return self.classifier.save(directory)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_name": self.classifier.model_name,
            "best_iteration": self.best_iteration,
            "validation": self.validation,
            "ray": asdict(self.ray),
            "durations": {k: round(v, 3) for k, v in self.durations.items()},
            "rows": self.rows,
            "params": self.params,
            "popularity": self.classifier.popularity,
        }


def split_by_customer(customers: pd.Series, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of a (train, validation) split that keeps each customer's rows on one side."""
    unique = np.sort(customers.astype(str).unique())
    if len(unique) < 4:
        raise InvalidInputError(f"a split by customer needs at least 4 customers; got {len(unique)}")
    rng = np.random.default_rng(seed % (2**32))
    n_valid = max(1, round(len(unique) * fraction))
    valid_customers = set(rng.choice(unique, size=n_valid, replace=False))
    in_valid = customers.astype(str).isin(valid_customers).to_numpy()
    positions = np.arange(len(customers))
    return positions[~in_valid], positions[in_valid]


def popularity_ranking(frame: pd.DataFrame, spec: ModelSpec, offer_ids: list[str]) -> list[str]:
    """Offer ids by acceptances in `frame`, most accepted first; ties (and offers never made) keep
    catalogue order."""
    assert spec.recommendation is not None
    accepted = frame[frame[spec.data.label].astype(str) == spec.data.positive_label]
    counts = accepted[spec.recommendation.item_key].astype(str).value_counts()
    return sorted(offer_ids, key=lambda o: (-int(counts.get(o, 0)), offer_ids.index(o)))


def _query_ids(customers: pd.Series) -> np.ndarray:
    """A stable integer per customer (order of first appearance after sorting ids)."""
    codes, _ = pd.factorize(customers.astype(str), sort=True)
    return codes.astype(np.int64)


def _check(frame: pd.DataFrame, spec: ModelSpec) -> None:
    needed = [spec.features.join_key, *spec.features.names, spec.data.label]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"model '{spec.name}': training frame lacks columns {missing}; it needs the customer key, "
            f"the spec's features.inputs and the label '{spec.data.label}'"
        )
    positives = (frame[spec.data.label].astype(str) == spec.data.positive_label).sum()
    if len(frame) < 20 or positives < 2:
        raise InvalidInputError(
            f"model '{spec.name}': {len(frame)} rows with {positives} acceptance(s) are too few to rank from"
        )


def train_ranker(
    spec: ModelSpec,
    frame: pd.DataFrame,
    settings: Settings,
    *,
    offer_ids: list[str] | None = None,
    backend: Backend | None = None,
    progress: Callable[[str], Any] = print,
    storage_path: str | Path | None = None,
) -> RankingResult:
    """Train `spec`'s ranker on `frame`: one row per offer made (customer key, inputs, response).

    `backend` works as for `cxops.training.train`: "ray" runs the fit on Ray Train workers (whole queries
    per worker; GPU workers when the cluster has them), "local" in this process.
    """
    assert spec.recommendation is not None
    started = time.perf_counter()
    backend = backend or ("local" if spec.trainer.scaling.num_workers == 0 else "ray")
    if backend not in ("ray", "local"):
        raise InvalidInputError(f"training backend '{backend}' is not known; use 'ray' or 'local'")
    _check(frame, spec)
    frame = frame.reset_index(drop=True)
    y = labels_to_binary(frame[spec.data.label], spec)
    customers = frame[spec.features.join_key]
    train_idx, valid_idx = split_by_customer(customers, spec.trainer.validation_fraction, spec.trainer.seed)
    inputs = list(spec.features.inputs)
    qid = _query_ids(customers)
    plain = plain_frame(frame, inputs, y)
    plain[QID] = qid
    train_plain = plain.iloc[train_idx].reset_index(drop=True)
    valid_plain = plain.iloc[valid_idx].reset_index(drop=True)
    params: dict[str, Any] = {"objective": "rank:ndcg", **spec.trainer.params}
    params.setdefault("eval_metric", f"ndcg@{spec.recommendation.k}")
    params.setdefault("seed", spec.trainer.seed % (2**31))
    config = {
        "params": params,
        "num_boost_round": spec.trainer.num_boost_round,
        "early_stopping_rounds": spec.trainer.early_stopping_rounds,
        "inputs": [c.model_dump() for c in inputs],
        "checkpoint_file": _CHECKPOINT_FILE,
        "cpus_per_worker": spec.trainer.scaling.cpus_per_worker,
    }
    durations: dict[str, float] = {"ray_start": 0.0}
    queries = int(plain[QID].nunique())
    if backend == "local":
        fit_started = time.perf_counter()
        nthread = settings.ray_num_cpus or os.cpu_count() or 1
        local = {**config, "params": {**params, "nthread": nthread}}
        progress(f"training '{spec.name}' in-process on {len(train_plain)} pairs ({queries} customers)")
        booster, info = fit_ranker(train_plain, valid_plain, local)
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
            spec,
            settings,
            config,
            train_plain,
            valid_plain,
            progress=progress,
            storage_path=storage_path,
            loop=rank_loop_per_worker,
            split_train=False,
        )
        durations.update(ray_durations)
    booster.set_param({"device": "cpu"})
    offers = offer_ids or list(spec.data.column(spec.recommendation.item_key).categories or [])
    train_rows = frame.iloc[train_idx]
    rows = {
        "total": len(frame),
        "train": len(train_idx),
        "validation": len(valid_idx),
        "customers": queries,
        "train_accepted": int(y[train_idx].sum()),
        "validation_accepted": int(y[valid_idx].sum()),
    }
    validation = {info["stopping_metric"]: info["best_score"]}
    ranker = OfferRanker.from_spec(
        spec,
        booster,
        popularity_ranking(train_rows, spec, offers),
        trained_with=usage.backend,
        best_iteration=info["best_iteration"],
        validation=validation,
        rows=rows,
    )
    durations["total"] = time.perf_counter() - started
    progress(
        f"trained '{spec.name}': best iteration {info['best_iteration']}, validation "
        f"{info['stopping_metric']} {info['best_score']:.3f} in {durations['total']:.1f}s"
    )
    return RankingResult(
        classifier=ranker,
        best_iteration=info["best_iteration"],
        validation=validation,
        ray=usage,
        durations=durations,
        rows=rows,
        params=params,
    )
