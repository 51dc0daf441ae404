"""Stratified k-fold cross-validation of the text models (intent, sentiment) on the real training files.

Two models per dataset, scored on the same folds:

- frozen encoder: all-MiniLM-L6-v2 embeddings of the PII-masked texts and the softmax head trained by
  the platform's own code (`cxops.training._text_fit._fit_head`) with the spec's `trainer.params`. The
  frozen encoder's embeddings do not depend on the fold, so every text is encoded once and reused.
- TF-IDF baseline: the evaluation step's baseline (`cxops.evaluation.baseline.tfidf_baseline`), fitted on
  the same masked training texts of each fold.

Exact duplicate rows (same text, same label) are dropped first, as the spec asks before training; texts
that still repeat (with conflicting labels) are kept in one fold, so no text is on both sides of a split.
Results go to benchmarks/results/text_cv.json.

    .venv/bin/python benchmarks/text_cv.py --dataset all          # both datasets, 5 folds
    .venv/bin/python benchmarks/text_cv.py --dataset intent --limit 1500 --folds 3   # a quick smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxops.config import Settings
from cxops.data.loaders import read_table
from cxops.modeling.text import HeadConfig, prepare_texts
from cxops.specs import ModelSpec, load_spec
from cxops.training.text_trainer import classes_of

DATASETS = ["intent", "sentiment"]
METRICS = ["accuracy", "macro_f1"]
DEFAULT_OUTPUT = Path(__file__).parent / "results" / "text_cv.json"

# Published fine-tuned results on each dataset (their own test splits, so a point of reference for the
# CV numbers, not a like-for-like comparison), and the accuracy the frozen-encoder model is held to.
ANCHORS: dict[str, dict[str, Any]] = {
    "intent": {
        "model": "fine-tuned BERT",
        "accuracy": 0.93,
        "source": "Casanueva et al. 2020, arXiv:2003.04807 (Banking77 official test split)",
    },
    "sentiment": {
        "model": "fine-tuned RoBERTa",
        "accuracy": 0.87,
        "source": "published fine-tuned RoBERTa results on Twitter US Airline Sentiment",
    },
}
TARGETS = {"intent": 0.92, "sentiment": 0.80}


def say(message: str) -> None:
    print(message, flush=True)


def load_dataset(spec: ModelSpec, settings: Settings, limit: int | None, seed: int) -> dict[str, Any]:
    """Texts (PII masked), integer labels and class names from the spec's real training file."""
    assert spec.text is not None, f"model '{spec.name}' is not a text model"
    path = (settings.root / (spec.data.real_dataset or "")).resolve()
    raw = read_table(path)
    renames = {src: dst for src, dst in spec.data.real_dataset_columns.items() if src in raw.columns}
    frame = raw.rename(columns=renames)[[spec.text.column, spec.data.label]]
    rows_in_file = len(frame)
    frame = frame.drop_duplicates().reset_index(drop=True)
    duplicates_dropped = rows_in_file - len(frame)
    if limit and limit < len(frame):
        from sklearn.model_selection import train_test_split

        frame, _ = train_test_split(
            frame, train_size=limit, stratify=frame[spec.data.label], random_state=seed
        )
        frame = frame.reset_index(drop=True)
    classes = classes_of(frame[spec.data.label], spec)
    index = {c: i for i, c in enumerate(classes)}
    return {
        "path": path,
        "texts": prepare_texts(frame[spec.text.column], mask_pii=spec.text.mask_pii),
        "y": frame[spec.data.label].astype(str).map(index).to_numpy(dtype=np.int64),
        "classes": classes,
        "rows_in_file": rows_in_file,
        "duplicates_dropped": duplicates_dropped,
    }


def splits(texts: list[str], y: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds; rows with the same (masked) text share a fold."""
    from sklearn.model_selection import StratifiedGroupKFold

    groups = pd.factorize(pd.Series(texts))[0]
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y, groups))


def scores(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(
            f1_score(y_true, y_pred, labels=list(range(num_classes)), average="macro", zero_division=0)
        ),
    }


def frozen_encoder_fold(
    x: np.ndarray,
    y: np.ndarray,
    fit_idx: np.ndarray,
    test_idx: np.ndarray,
    config: HeadConfig,
    k: int,
    seed: int,
) -> dict[str, float]:
    from cxops.training._text_fit import _fit_head, _predict

    started = time.perf_counter()
    head = _fit_head(x[fit_idx], y[fit_idx], config, k, seed=seed)
    fit_seconds = time.perf_counter() - started
    return {**scores(y[test_idx], _predict(head, x[test_idx]), k), "fit_seconds": fit_seconds}


def baseline_fold(
    baseline: Callable[..., np.ndarray],
    texts: list[str],
    y: np.ndarray,
    fit_idx: np.ndarray,
    test_idx: np.ndarray,
    k: int,
) -> dict[str, float]:
    started = time.perf_counter()
    # The texts are masked already (as the model reads them), so the baseline need not mask them again.
    proba = baseline(
        [texts[i] for i in fit_idx],
        y[fit_idx],
        [texts[i] for i in test_idx],
        classes=list(range(k)),
        mask_pii=False,
    )
    fit_seconds = time.perf_counter() - started
    assert proba.shape == (len(test_idx), k), f"baseline returned shape {proba.shape}"
    return {**scores(y[test_idx], proba.argmax(axis=1), k), "fit_seconds": fit_seconds}


def summarise(per_fold: list[dict[str, Any]], keys: list[str]) -> dict[str, dict[str, float]]:
    def std(values: list[float]) -> float:
        return statistics.stdev(values) if len(values) > 1 else 0.0

    return {
        k: {"mean": statistics.fmean(f[k] for f in per_fold), "std": std([f[k] for f in per_fold])}
        for k in keys
    }


def cross_validate(name: str, settings: Settings, folds: int, seed: int, limit: int | None) -> dict[str, Any]:
    import torch

    from cxops.evaluation.baseline import tfidf_baseline
    from cxops.text.embeddings import get_encoder

    spec = load_spec(name, settings)
    data = load_dataset(spec, settings, limit, seed)
    texts, y, classes = data["texts"], data["y"], data["classes"]
    k = len(classes)
    say(
        f"[{name}] {len(texts)} rows ({data['duplicates_dropped']} exact duplicates dropped) from "
        f"{data['path']}, {k} classes; {folds}-fold stratified CV (seed {seed})"
    )

    started = time.perf_counter()
    encoder = get_encoder()
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    x = encoder.encode(texts)
    encode_seconds = time.perf_counter() - started
    say(
        f"[{name}] encoded {len(texts)} texts once in {encode_seconds:.1f}s "
        f"({len(texts) / encode_seconds:.0f} texts/s; encoder load {load_seconds:.1f}s)"
    )

    head_params = dict(spec.trainer.params)
    config = HeadConfig.from_params(head_params, input_dim=encoder.dimension)
    head_seed = spec.trainer.seed % (2**31)
    per_fold: list[dict[str, Any]] = []
    for fold, (fit_idx, test_idx) in enumerate(splits(texts, y, folds, seed), start=1):
        frozen = frozen_encoder_fold(x, y, fit_idx, test_idx, config, k, head_seed)
        say(
            f"[{name}] fold {fold}/{folds} frozen encoder: accuracy {frozen['accuracy']:.4f}, "
            f"macro-F1 {frozen['macro_f1']:.4f} (head fit {frozen['fit_seconds']:.1f}s)"
        )
        base = baseline_fold(tfidf_baseline, texts, y, fit_idx, test_idx, k)
        say(
            f"[{name}] fold {fold}/{folds} TF-IDF baseline: accuracy {base['accuracy']:.4f}, "
            f"macro-F1 {base['macro_f1']:.4f} (fit {base['fit_seconds']:.1f}s)"
        )
        per_fold.append(
            {
                "fold": fold,
                "train_rows": len(fit_idx),
                "test_rows": len(test_idx),
                "frozen_encoder": frozen,
                "tfidf_baseline": base,
            }
        )

    models = {}
    for model in ("frozen_encoder", "tfidf_baseline"):
        rows = [f[model] for f in per_fold]
        models[model] = {"summary": summarise(rows, [*METRICS, "fit_seconds"])}
    achieved = {m: models["frozen_encoder"]["summary"][m]["mean"] for m in METRICS}
    accuracy = achieved["accuracy"]
    return {
        "model": name,
        "dataset": {
            "path": str(data["path"]),
            "rows_in_file": data["rows_in_file"],
            "exact_duplicates_dropped": data["duplicates_dropped"],
            "rows": len(texts),
            "limit": limit,
            "classes": k,
            "class_counts": {c: int(n) for c, n in zip(classes, np.bincount(y, minlength=k), strict=True)},
        },
        "frozen_encoder": {
            "encoder": spec.trainer.encoder,
            "embedding_dimension": encoder.dimension,
            "embeddings": "computed once for all rows and reused by every fold (the encoder is frozen)",
            "encoder_load_seconds": load_seconds,
            "encoding_seconds": encode_seconds,
            "texts_per_second": len(texts) / encode_seconds,
            "head_params": head_params,
            "head_seed": head_seed,
            **models["frozen_encoder"],
        },
        "tfidf_baseline": {
            "function": "cxops.evaluation.baseline.tfidf_baseline",
            **models["tfidf_baseline"],
        },
        "folds": per_fold,
        "anchor": ANCHORS[name],
        "target": {
            "frozen_encoder_accuracy_at_least": TARGETS[name],
            "frozen_encoder_accuracy": accuracy,
            "passed": accuracy >= TARGETS[name],
        },
        "spec_thresholds": {
            metric: {"threshold": t, "mean": achieved[metric], "passed": achieved[metric] >= t}
            for metric, t in spec.evaluation.thresholds.items()
            if metric in achieved
        },
        "torch_threads": torch.get_num_threads(),
    }


def print_table(result: dict[str, Any]) -> None:
    name = result["model"]
    say(f"\n{name}: accuracy / macro-F1 per fold")
    say("fold   frozen acc  frozen mF1   tfidf acc   tfidf mF1")
    for f in result["folds"]:
        fe, tb = f["frozen_encoder"], f["tfidf_baseline"]
        say(
            f"{f['fold']:>4}  {fe['accuracy']:10.4f}  {fe['macro_f1']:10.4f}  "
            f"{tb['accuracy']:10.4f}  {tb['macro_f1']:10.4f}"
        )
    fe, tb = result["frozen_encoder"]["summary"], result["tfidf_baseline"]["summary"]
    for stat in ("mean", "std"):
        say(
            f"{stat:>4}  {fe['accuracy'][stat]:10.4f}  {fe['macro_f1'][stat]:10.4f}  "
            f"{tb['accuracy'][stat]:10.4f}  {tb['macro_f1'][stat]:10.4f}"
        )
    target = result["target"]
    say(
        f"target: frozen-encoder accuracy >= {target['frozen_encoder_accuracy_at_least']:.2f}: "
        f"{'PASS' if target['passed'] else 'FAIL'} ({target['frozen_encoder_accuracy']:.4f}); "
        f"anchor: {result['anchor']['model']} ~{result['anchor']['accuracy']:.2f}"
    )


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    import sentence_transformers
    import sklearn
    import torch

    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
        "platform": platform.platform(),
        "processor": platform.machine(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "scikit_learn": sklearn.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=[*DATASETS, "all"], default="all")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--limit", type=int, default=None, help="stratified subsample of N rows (smoke runs)")
    parser.add_argument(
        "--output",
        "--out",
        type=Path,
        default=None,
        help="JSON results (default benchmarks/results/text_cv.json; a --limit run writes only to --output)",
    )
    args = parser.parse_args(argv)
    if args.folds < 2:
        parser.error("--folds must be 2 or more")

    import torch

    settings = Settings()
    # As the in-process trainer does: use every core for the encoder and the head.
    torch.set_num_threads(settings.ray_num_cpus or os.cpu_count() or 1)
    names = DATASETS if args.dataset == "all" else [args.dataset]
    started = time.perf_counter()
    results = {}
    for name in names:
        results[name] = cross_validate(name, settings, args.folds, args.seed, args.limit)
        print_table(results[name])
    report = {
        "benchmark": "text_cv",
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "protocol": (
            f"{args.folds}-fold stratified CV (seed {args.seed}) on each spec's real training file; exact "
            "duplicate rows dropped, rows with the same text kept in one fold; texts PII-masked as the model "
            "does. Frozen encoder: every text embedded once (the encoder does not depend on the fold), the "
            "head trained per fold on the training folds with the spec's trainer.params; TF-IDF baseline "
            "fitted per fold on the same texts. The held-out fold only scores."
        ),
        "datasets": results,
        "seconds": time.perf_counter() - started,
    }
    output = args.output or (None if args.limit else DEFAULT_OUTPUT)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report, indent=2))
    say(
        f"\ndone in {report['seconds']:.0f}s"
        + (f" -> {output}" if output else " (not written: --limit without --output)")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
