"""K-fold cross-validation over customers of the next-best-offer model on the real IBM Telco training file.

The file records holdings, not offer responses, so it is turned into responses as the pipeline does
(leave-one-out, `models/recommendation/model.py` `prepare_real`): per customer, one held service is hidden
and its row says "accepted"; every other offer the policy allows on the masked profile says "declined".
Customers are split into folds, so a customer's rows never cross folds. Each fold trains exactly as the
pipeline does (`cxops.training.train_ranker`, in-process backend: the training folds are split again by
customer for early stopping) and is scored by the evaluation step (`cxops.evaluation.evaluate_ranking`)
beside the popularity and co-occurrence baselines, both fitted on the training folds only.
Results go to benchmarks/results/recommendation_loo.json.

    .venv/bin/python benchmarks/recommendation_loo.py                 # the spec as it is, 5 folds
    .venv/bin/python benchmarks/recommendation_loo.py --params '{"max_depth": 2}' --output /tmp/d2.json
    .venv/bin/python benchmarks/recommendation_loo.py --grid          # also a few other parameter sets
    .venv/bin/python benchmarks/recommendation_loo.py --limit 1000 --folds 3   # a quick smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxops.config import Settings
from cxops.data.loaders import coerce, read_table
from cxops.evaluation import evaluate_ranking
from cxops.recommendation.candidates import with_offer_features
from cxops.recommendation.policy import OfferPolicy, load_offer_policy
from cxops.specs import ModelSpec, load_model_code, load_spec
from cxops.training import train_ranker

RANKERS = {"model": "", "popularity": "popularity_", "cooccurrence": "cooccurrence_"}
"""Each ranker's prefix in `RankingReport.metrics`."""
METRICS = ["hit_rate_at_k", "ndcg_at_k", "map_at_k", "hit_rate_at_1", "coverage_at_k"]
FOLD_STATS = [
    "fit_seconds",
    "best_iteration",
    "train_rows",
    "test_rows",
    "train_customers",
    "test_customers",
    "mean_candidates",
    "lift_over_popularity",
    "lift_over_cooccurrence",
    "beats_baselines",
]
DEFAULT_OUTPUT = Path(__file__).parent / "results" / "recommendation_loo.json"

# Candidate settings for --grid; each is merged over the trainer params of the run (the spec's, or --params).
GRID: list[dict[str, Any]] = [
    {"max_depth": 6},
    {"max_depth": 6, "min_child_weight": 1},
    {"max_depth": 8, "min_child_weight": 1},
    {"max_depth": 2, "eta": 0.1},
    {"lambdarank_pair_method": "mean", "lambdarank_num_pair_per_sample": 1},
]


def say(message: str) -> None:
    print(message, flush=True)


def load_rows(
    spec: ModelSpec, settings: Settings, policy: OfferPolicy, data: Path | None, limit: int | None, seed: int
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Response rows with the model's inputs (customer and offer features), as the pipeline builds them."""
    path = (data or settings.root / (spec.data.real_dataset or "")).resolve()
    raw = read_table(path)
    model = load_model_code(spec.name, settings)
    # The file has no event timestamps: stamp it with its modification time, as ingestion does, so every
    # run sees the same rows.
    observed_at = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    rows = coerce(model.prepare_real(raw, policy), spec, observed_at=observed_at)
    customers_in_file = int(raw[spec.data.entity_key].nunique())
    customers_with_responses = int(rows[spec.data.entity_key].nunique())
    if limit and limit < rows[spec.data.entity_key].nunique():
        # Sample customers after the leave-one-out step, so each keeps the offer a full run hides.
        ids = np.sort(rows[spec.data.entity_key].unique())
        keep = np.random.default_rng(seed).choice(ids, size=limit, replace=False)
        rows = rows[rows[spec.data.entity_key].isin(keep)]
    frame = model.derive_features(rows.reset_index(drop=True))
    assert spec.features is not None
    # The pipeline keys customers by a pseudonym; the benchmark never leaves this process, so the id will do.
    frame[spec.features.join_key] = frame[spec.data.entity_key]
    frame = with_offer_features(frame, policy).reset_index(drop=True)
    responses = frame[spec.data.label].astype(str)
    info = {
        "path": str(path),
        # A file that already holds offer responses (it has offer_id) is used as it is.
        "leave_one_out": "offer_id" not in raw.columns,
        "customers_in_file": customers_in_file,
        "customers": int(frame[spec.features.join_key].nunique()),
        "customers_without_hideable_offer": customers_in_file - customers_with_responses,
        "rows": len(frame),
        "accepted": int((responses == spec.data.positive_label).sum()),
        "limit": limit,
        "rows_per_customer": float(len(frame) / frame[spec.features.join_key].nunique()),
        "hidden_offers": {
            str(k): int(v)
            for k, v in frame.loc[responses == spec.data.positive_label, "offer_id"]
            .astype(str)
            .value_counts()
            .items()
        },
    }
    return frame, info


def with_params(spec: ModelSpec, params: dict[str, Any], rounds: int | None, early: int | None) -> ModelSpec:
    trainer = spec.trainer.model_copy(
        update={
            "params": {**spec.trainer.params, **params},
            "num_boost_round": rounds or spec.trainer.num_boost_round,
            "early_stopping_rounds": early or spec.trainer.early_stopping_rounds,
        }
    )
    return spec.model_copy(update={"trainer": trainer})


def customer_folds(customers: pd.Series, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Row positions of each (train, test) split; every customer's rows fall in exactly one test fold."""
    from sklearn.model_selection import KFold

    ids = np.sort(customers.astype(str).unique())
    splitter = KFold(n_splits=folds, shuffle=True, random_state=seed)
    positions = np.arange(len(customers))
    out = []
    for _, test_ids in splitter.split(ids):
        in_test = customers.astype(str).isin(set(ids[test_ids])).to_numpy()
        out.append((positions[~in_test], positions[in_test]))
    return out


def summarise(per_fold: list[dict[str, Any]], keys: list[str]) -> dict[str, dict[str, float]]:
    def std(values: list[float]) -> float:
        return statistics.stdev(values) if len(values) > 1 else 0.0

    return {
        k: {"mean": statistics.fmean(f[k] for f in per_fold), "std": std([f[k] for f in per_fold])}
        for k in keys
    }


def cross_validate(
    spec: ModelSpec, frame: pd.DataFrame, settings: Settings, policy: OfferPolicy, folds: int, seed: int
) -> dict[str, Any]:
    assert spec.features is not None
    customers = frame[spec.features.join_key]
    per_fold: list[dict[str, Any]] = []
    for fold, (train_idx, test_idx) in enumerate(customer_folds(customers, folds, seed), start=1):
        train_rows, test_rows = frame.iloc[train_idx], frame.iloc[test_idx]
        started = time.perf_counter()
        result = train_ranker(
            spec,
            train_rows,
            settings,
            offer_ids=policy.offer_ids,
            backend="local",
            progress=lambda _msg: None,
        )
        fit_seconds = time.perf_counter() - started
        report = evaluate_ranking(result.classifier, test_rows, train_rows, spec, policy)
        m = report.metrics
        row: dict[str, Any] = {
            "fold": fold,
            "fit_seconds": fit_seconds,
            "best_iteration": result.best_iteration,
            "validation": result.validation,
            "train_rows": len(train_idx),
            "test_rows": len(test_idx),
            "train_customers": int(customers.iloc[train_idx].nunique()),
            "test_customers": int(customers.iloc[test_idx].nunique()),
            "mean_candidates": m["mean_candidates"],
            "lift_over_popularity": m["lift_over_popularity"],
            "lift_over_cooccurrence": m["lift_over_cooccurrence"],
            "beats_baselines": m["beats_baselines"],
        }
        for ranker, prefix in RANKERS.items():
            row[ranker] = {metric: m[f"{prefix}{metric}"] for metric in METRICS}
        for base in ("popularity", "cooccurrence"):
            for metric in ("hit_rate_at_k", "ndcg_at_k"):
                row[f"model_minus_{base}_{metric}"] = row["model"][metric] - row[base][metric]
        per_fold.append(row)
        say(
            f"fold {fold}/{folds}: NDCG@k model {row['model']['ndcg_at_k']:.4f}, popularity "
            f"{row['popularity']['ndcg_at_k']:.4f}, co-occurrence {row['cooccurrence']['ndcg_at_k']:.4f}; "
            f"HR@k {row['model']['hit_rate_at_k']:.4f} / {row['popularity']['hit_rate_at_k']:.4f} / "
            f"{row['cooccurrence']['hit_rate_at_k']:.4f} (best iteration {result.best_iteration}, "
            f"{fit_seconds:.1f}s)"
        )
    differences = [
        f"model_minus_{base}_{metric}"
        for base in ("popularity", "cooccurrence")
        for metric in ("hit_rate_at_k", "ndcg_at_k")
    ]
    return {
        "folds": per_fold,
        "summary": {
            **{ranker: summarise([f[ranker] for f in per_fold], METRICS) for ranker in RANKERS},
            **summarise(per_fold, [*FOLD_STATS, *differences]),
        },
    }


def print_table(title: str, result: dict[str, Any], k: int) -> None:
    cols = [
        ("HR@k", "hit_rate_at_k"),
        ("NDCG@k", "ndcg_at_k"),
        ("MAP@k", "map_at_k"),
        ("HR@1", "hit_rate_at_1"),
    ]
    say(f"\n{title} (k = {k})")
    say(
        f"{'ranker':<13}"
        + "".join(f"{name.replace('k', str(k)):>18}" for name, _ in cols)
        + f"{'coverage':>18}"
    )
    s = result["summary"]
    for ranker in RANKERS:
        cells = [s[ranker][key] for _, key in [*cols, ("", "coverage_at_k")]]
        say(f"{ranker:<13}" + "".join(f"{c['mean']:10.4f} ± {c['std']:.4f}" for c in cells))


def grid_candidate(
    candidate: dict[str, Any],
    base: ModelSpec,
    frame: pd.DataFrame,
    settings: Settings,
    policy: OfferPolicy,
    args: argparse.Namespace,
    reference: dict[str, Any],
    k: int,
) -> dict[str, Any]:
    """One GRID candidate on the same folds, with its per-fold gain over the run's own trainer params."""
    variant = with_params(base, candidate, None, None)
    result = cross_validate(variant, frame, settings, policy, args.folds, args.seed)
    print_table(f"grid {candidate}", result, k)
    gains = [
        {
            f"{metric}_gain": f["model"][metric] - r["model"][metric]
            for metric in ("hit_rate_at_k", "ndcg_at_k")
        }
        for f, r in zip(result["folds"], reference["folds"], strict=True)
    ]
    return {
        "params": candidate,
        "summary": result["summary"],
        "gain_over_run": summarise(gains, ["hit_rate_at_k_gain", "ndcg_at_k_gain"]),
        "best_iterations": [f["best_iteration"] for f in result["folds"]],
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    import sklearn
    import xgboost

    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.machine(),
        "python": sys.version.split()[0],
        "xgboost": xgboost.__version__,
        "scikit_learn": sklearn.__version__,
        "pandas": pd.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=2024, help="seed of the customer folds (and --limit)")
    parser.add_argument("--data", type=Path, default=None, help="CSV/parquet in the raw Telco schema")
    parser.add_argument("--limit", type=int, default=None, help="sample N customers (smoke runs)")
    parser.add_argument("--params", type=json.loads, default={}, help="JSON merged over trainer.params")
    parser.add_argument("--rounds", type=int, default=None, help="num_boost_round override")
    parser.add_argument("--early", type=int, default=None, help="early_stopping_rounds override")
    parser.add_argument("--grid", action="store_true", help="also cross-validate the GRID candidates")
    parser.add_argument(
        "--output",
        "--out",
        type=Path,
        default=None,
        help="JSON results (default benchmarks/results/recommendation_loo.json; a --limit run writes only "
        "to --output)",
    )
    args = parser.parse_args(argv)
    if args.folds < 2:
        parser.error("--folds must be 2 or more")

    settings = Settings()
    spec = load_spec("recommendation", settings)
    assert spec.recommendation is not None
    policy = load_offer_policy(settings, settings.root / spec.recommendation.policy)
    started = time.perf_counter()
    frame, dataset = load_rows(spec, settings, policy, args.data, args.limit, args.seed)
    prepare_seconds = time.perf_counter() - started
    say(
        f"{dataset['rows']} response rows ({dataset['customers']} customers, "
        f"{dataset['rows_per_customer']:.2f} offers each) from {dataset['path']} in {prepare_seconds:.1f}s; "
        f"{args.folds}-fold CV over customers (seed {args.seed})"
    )

    base = with_params(spec, args.params, args.rounds, args.early)
    cv_started = time.perf_counter()
    result = cross_validate(base, frame, settings, policy, args.folds, args.seed)
    cv_seconds = time.perf_counter() - cv_started
    k = spec.recommendation.k
    print_table(f"trainer params {base.trainer.params}", result, k)
    s = result["summary"]
    report: dict[str, Any] = {
        "benchmark": "recommendation_loo",
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "dataset": {**dataset, "prepare_seconds": prepare_seconds},
        "protocol": (
            "The IBM Telco file holds subscriptions, not offer responses; it is turned into responses by "
            "leave-one-out (models/recommendation/model.py prepare_real): per customer, one held service "
            "(drawn with a fixed seed among those whose removal leaves the rest of the profile consistent) "
            "is removed from the profile, bill included, and becomes the 'accepted' row; every other offer "
            f"the policy ({policy.version}) allows on the masked profile becomes a 'declined' row. "
            "'Declined' is implicit feedback: the customer does not hold the offer, nobody asked them. "
            f"Customers without a service that can be hidden are left out. {args.folds}-fold CV over "
            f"customers (KFold over the sorted customer ids, shuffled, seed {args.seed}): a customer's rows "
            "never cross folds. Per fold the ranker trains as the pipeline does (train_ranker, in-process), "
            f"the training folds split again by customer ({spec.trainer.validation_fraction:.0%} "
            f"validation) for early stopping on NDCG@{k}; evaluate_ranking scores the held-out customers' "
            "candidates (eligible offers plus those made) for the model and the popularity and "
            "co-occurrence baselines, both fitted on the whole training folds. Metrics at "
            f"k={k} over customers with an acceptance (all of them here: one relevant offer each), so HR@k "
            "is the share whose hidden service is in the top k; coverage is the share of the catalogue in "
            "some top k. Means and sample standard deviations over folds."
        ),
        "trainer": {
            "params": base.trainer.params,
            "overrides": args.params,
            "num_boost_round": base.trainer.num_boost_round,
            "early_stopping_rounds": base.trainer.early_stopping_rounds,
            "validation_fraction": base.trainer.validation_fraction,
            "seed": base.trainer.seed,
        },
        "k": k,
        "result": result,
        "spec_thresholds": {
            metric: {"threshold": bound, "mean": mean, "passed": mean >= bound}
            for metric, bound in spec.evaluation.thresholds.items()
            if (mean := (s[metric] if metric in s else s["model"].get(metric, {})).get("mean")) is not None
        },
    }
    if args.grid:
        report["grid"] = [
            grid_candidate(candidate, base, frame, settings, policy, args, result, k) for candidate in GRID
        ]
    report["cv_seconds"] = cv_seconds
    report["seconds"] = time.perf_counter() - started
    output = args.output or (None if args.limit else DEFAULT_OUTPUT)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report, indent=2))
    m, p, c = s["model"], s["popularity"], s["cooccurrence"]
    say(
        f"\nNDCG@{k}: model {m['ndcg_at_k']['mean']:.4f} ± {m['ndcg_at_k']['std']:.4f}, popularity "
        f"{p['ndcg_at_k']['mean']:.4f} ± {p['ndcg_at_k']['std']:.4f}, co-occurrence "
        f"{c['ndcg_at_k']['mean']:.4f} ± {c['ndcg_at_k']['std']:.4f}; HR@{k}: model "
        f"{m['hit_rate_at_k']['mean']:.4f} ± {m['hit_rate_at_k']['std']:.4f}, popularity "
        f"{p['hit_rate_at_k']['mean']:.4f} ± {p['hit_rate_at_k']['std']:.4f}, co-occurrence "
        f"{c['hit_rate_at_k']['mean']:.4f} ± {c['hit_rate_at_k']['std']:.4f}"
    )
    say(
        f"done in {report['seconds']:.0f}s"
        + (f" -> {output}" if output else " (not written: --limit without --output)")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
