"""Serving latency of one triage call, against the model calls it is made of, on this machine.

Serves the latest registered bentos of churn, intent and sentiment with `bentoml serve` (as `make demo`
does; run it first), starts the triage service in front of them, and times sequential requests from a
client in this process:

    intent_v2         one V2 infer call to the intent server (the baseline: one model, one hop)
    sentiment_v2      one V2 infer call to the sentiment server
    triage            POST /v1/triage with a message (intent and sentiment called concurrently)
    triage_customer   the same with a customer id (churn looked up in the online store as well)

Results (median, p95, p99, ratios to the baseline measured in the same run, the machine) go to
benchmarks/results/triage_latency.json.

    .venv/bin/python benchmarks/triage_latency.py --requests 300
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from cxops.config import Settings
from cxops.data.messages import support_messages
from cxops.errors import CXOpsError
from cxops.registry import Registry
from cxops.serving.server import free_port, start_server

MODELS = ("churn", "intent", "sentiment")


def _summary(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {
        "requests": len(ms),
        "median_ms": round(float(np.median(ms)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "mean_ms": round(float(ms.mean()), 2),
        "min_ms": round(float(ms.min()), 2),
    }


def _time(call, payloads: list[Any], warmup: int) -> list[float]:
    for payload in payloads[:warmup]:
        call(payload)
    out = []
    for payload in payloads[warmup:]:
        started = time.perf_counter()
        call(payload)
        out.append(time.perf_counter() - started)
    return out


def _bentos(settings: Settings) -> dict[str, str]:
    with Registry.from_settings(settings) as registry:
        tags = {m: registry.get_version(m).bento_tag for m in MODELS}
    missing = [m for m, tag in tags.items() if not tag]
    if missing:
        raise CXOpsError(f"models {missing} have no bento; run `make demo` first")
    return tags  # type: ignore[return-value]


@contextlib.contextmanager
def _triage_process(urls: dict[str, str], settings: Settings):
    """`cxops triage serve` in its own process, as it runs in production."""
    import subprocess

    port = free_port()
    command = [
        str(Path(sys.executable).parent / "cxops"),
        "triage",
        "serve",
        "--port",
        str(port),
        "--intent-url",
        urls["intent"],
        "--sentiment-url",
        urls["sentiment"],
        "--churn-url",
        urls["churn"],
    ]
    env = {**os.environ, **settings.to_env()}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise CXOpsError("the triage service did not start; run `cxops triage serve` to see why")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300, help="Timed requests per case.")
    parser.add_argument("--warmup", type=int, default=20, help="Untimed requests first, per case.")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/triage_latency.json"))
    args = parser.parse_args()

    settings = Settings()
    tags = _bentos(settings)
    total = args.requests + args.warmup
    messages = support_messages(n=total, seed=99)
    texts = messages["text"].tolist()
    customers = None
    with contextlib.ExitStack() as stack:
        urls = {}
        for model, tag in tags.items():
            print(f"starting {tag} ...", flush=True)
            urls[model] = stack.enter_context(start_server(tag, settings=settings)).url
        with Registry.from_settings(settings) as registry:
            import pandas as pd

            churn = registry.get_version("churn")
            dataset = registry.get_dataset("churn", churn.lineage["dataset_version"])
            customers = (
                pd.read_parquet(dataset.uri)["customerID"]
                .sample(total, replace=True, random_state=1)
                .tolist()
            )
        triage = stack.enter_context(_triage_process(urls, settings))
        client = stack.enter_context(httpx.Client(timeout=30))

        def v2(model: str):
            def call(text: str) -> None:
                body = {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": [text]}]}
                client.post(f"{urls[model]}/v2/models/{model}/infer", json=body).raise_for_status()

            return call

        def triage_call(payload: dict[str, Any]) -> None:
            client.post(f"{triage}/v1/triage", json=payload).raise_for_status()

        cases: dict[str, list[float]] = {}
        cases["intent_v2"] = _time(v2("intent"), texts, args.warmup)
        print("intent_v2", _summary(cases["intent_v2"]), flush=True)
        cases["sentiment_v2"] = _time(v2("sentiment"), texts, args.warmup)
        print("sentiment_v2", _summary(cases["sentiment_v2"]), flush=True)
        cases["triage"] = _time(triage_call, [{"message": t, "channel": "chat"} for t in texts], args.warmup)
        print("triage", _summary(cases["triage"]), flush=True)
        with_customer = [{"message": t, "customer_id": c} for t, c in zip(texts, customers, strict=True)]
        cases["triage_customer"] = _time(triage_call, with_customer, args.warmup)
        print("triage_customer", _summary(cases["triage_customer"]), flush=True)

    results = {name: _summary(values) for name, values in cases.items()}
    baseline = results["intent_v2"]["median_ms"]
    for name in results:
        results[name]["median_ratio_to_intent_v2"] = round(results[name]["median_ms"] / baseline, 2)
    import torch

    report = {
        "benchmark": "triage_latency",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "gpu": torch.cuda.is_available(),
        },
        "setup": {
            "models": tags,
            "servers": "bentoml serve, one process per model, and `cxops triage serve`, on this machine",
            "client": "httpx, sequential requests, keep-alive",
            "requests": args.requests,
            "warmup": args.warmup,
            "message_chars_median": int(statistics.median(len(t) for t in texts)),
        },
        "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
