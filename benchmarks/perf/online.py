"""Online scoring of one churn request, four ways, under the same closed-loop load (`wrk`):

    gateway  the path an application team calls: `cxops canary gateway` (routing table from the canary
             records, CloudEvents log) -> the production bento (`bentoml serve`) -> Feast online
             lookup of the customer id -> model.  V2 body: one `customer_id` tensor.
    bento_by_id  the same bento called directly with the customer id: (a) without the gateway.
    bento    the same bento server, called directly with the customer's features (V2 tensors).
    kserve   KServe's own `ModelServer` serving the same classifier (`peer_servers.py kserve`).
    floor    a bare Starlette/uvicorn app calling the classifier in the handler (`peer_servers.py floor`).

Every server is its own process with one worker; wrk runs on the same machine with one thread. Bodies
cycle through a few hundred real customers, so lookups do not hit one cached row.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from cxops.features import FeatureStoreClient
from cxops.privacy import pseudonymise
from cxops.registry import Registry
from cxops.serving._bentoml_env import bentoml_env
from cxops.serving.server import free_port
from cxops.specs import load_spec

from .home import BenchHome
from .load import run_wrk

MODEL = "churn"
PATH = f"/v2/models/{MODEL}/infer"
CUSTOMERS = 400
TARGETS = ("gateway", "bento_by_id", "bento", "kserve", "floor")
BY_ID = ("gateway", "bento_by_id")
"""Targets sent customer ids (the others get the features)."""


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def request_bodies(bench: BenchHome) -> tuple[list[str], list[str], pd.DataFrame]:
    """V2 bodies by customer id, and by the features the online store holds for the same customers (so
    every target scores the same inputs), and those feature rows."""
    settings = bench.settings
    spec = load_spec(MODEL, settings)
    with Registry.from_settings(settings) as registry:
        record = registry.get_version(MODEL, bench.pipelines[MODEL]["version"])
        dataset = registry.get_dataset(MODEL, record.lineage["dataset_version"])
    raw = pd.read_parquet(dataset.uri).sample(CUSTOMERS, random_state=11).reset_index(drop=True)
    ids = raw[spec.data.entity_key].tolist()
    key = settings.pseudonym_key_bytes()
    online, unknown = FeatureStoreClient(settings).online_features(spec, [pseudonymise(c, key) for c in ids])
    if unknown:
        raise RuntimeError(f"{len(unknown)} customers of the churn dataset are not in the online store")
    features = online[spec.features.names].astype(object).where(online[spec.features.names].notna(), None)
    by_id = [
        json.dumps({"inputs": [{"name": "customer_id", "datatype": "BYTES", "shape": [1], "data": [cid]}]})
        for cid in ids
    ]
    types = {c.name: c.type for c in spec.features.inputs}
    by_features = []
    for _, row in features.iterrows():
        tensors = []
        for name in spec.features.names:
            kind = types[name]
            datatype = "BYTES" if kind in ("category", "text") else "INT64" if kind == "integer" else "FP64"
            tensors.append({"name": name, "datatype": datatype, "shape": [1], "data": [_plain(row[name])]})
        by_features.append(json.dumps({"inputs": tensors}))
    return by_id, by_features, features


class ChildProcess:
    """A server started for the benchmark, in its own process group, its output in `log`."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)

    def wait_for(self, url: str, ready, timeout: float = 240) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                tail = self.log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{self.log.name}: exited with {self.process.returncode}:\n{tail}")
            with contextlib.suppress(httpx.HTTPError):
                response = httpx.get(url, timeout=2)
                if (answer := ready(response)) is not None:
                    return answer
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{url} not ready within {timeout:.0f} s; see {self.log}")
            time.sleep(0.5)


@contextlib.contextmanager
def servers(bench: BenchHome) -> Iterator[dict[str, str]]:
    """Base URL of each target, all started and ready; stopped on exit."""
    settings = bench.settings
    logs = settings.subdir("logs")
    env = {**os.environ, **settings.to_env(), **bentoml_env(settings), "PYTHONUNBUFFERED": "1"}
    cxops = str(Path(sys.executable).with_name("cxops"))
    peers = str(Path(__file__).with_name("peer_servers.py"))
    with Registry.from_settings(settings) as registry:
        model_dir = registry.get_version(MODEL, bench.pipelines[MODEL]["version"]).artifacts["model"]
    ports = {name: free_port() for name in TARGETS}
    commands = {
        "gateway": [cxops, "canary", "gateway", "--model", MODEL, "--port", str(ports["gateway"])],
        "kserve": [sys.executable, peers, "kserve", "--model-dir", model_dir, "--port", str(ports["kserve"])],
        "floor": [sys.executable, peers, "floor", "--model-dir", model_dir, "--port", str(ports["floor"])],
    }
    started: list[ChildProcess] = []
    try:
        processes = {}
        for name, command in commands.items():
            processes[name] = ChildProcess(command, env, logs / f"bench-{name}.log")
            started.append(processes[name])
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}

        def stable_url(response: httpx.Response) -> str | None:
            if response.status_code != 200:
                return None
            route = response.json()["models"].get(MODEL)
            return route["route"]["stable"]["url"] if route else None

        urls["bento"] = processes["gateway"].wait_for(f"{urls['gateway']}/gateway/status", stable_url)
        for name in ("kserve", "floor"):
            processes[name].wait_for(
                f"{urls[name]}/v2/health/ready", lambda r: True if r.status_code == 200 else None
            )
        urls["bento_by_id"] = urls["bento"]
        yield {name: urls[name] for name in TARGETS}
    finally:
        for process in reversed(started):
            process.stop()


def _check_same_answers(urls: dict[str, str], by_id: list[str], by_features: list[str]) -> float:
    """The four targets score the first customers alike; returns the largest probability difference."""
    worst = 0.0
    with httpx.Client(timeout=30) as client:
        for id_body, feature_body in list(zip(by_id, by_features, strict=True))[:20]:
            answers = []
            for name in TARGETS:
                body = id_body if name in BY_ID else feature_body
                response = client.post(
                    urls[name] + PATH, content=body, headers={"content-type": "application/json"}
                )
                response.raise_for_status()
                outputs = {o["name"]: o["data"][0] for o in response.json()["outputs"]}
                answers.append(outputs["probability"])
            worst = max(worst, max(answers) - min(answers))
    if worst > 1e-5:
        raise RuntimeError(f"the targets disagree on a customer's probability by {worst:g}")
    return worst


def run(
    bench: BenchHome, progress, *, seconds: float, levels: tuple[int, ...] = (1, 8, 32)
) -> dict[str, Any]:
    by_id, by_features, _ = request_bodies(bench)
    progress("starting the gateway (and its bento), KServe's ModelServer and the bare Starlette app")
    with servers(bench) as urls:
        difference = _check_same_answers(urls, by_id, by_features)
        results: dict[str, list[dict[str, Any]]] = {}
        for name in TARGETS:
            bodies = by_id if name in BY_ID else by_features
            run_wrk(urls[name], PATH, bodies, connections=8, seconds=2)  # warm-up, not recorded
            results[name] = []
            for connections in levels:
                measured = run_wrk(urls[name], PATH, bodies, connections=connections, seconds=seconds)
                results[name].append(measured)
                progress(
                    f"  {name:8s} {connections:>2} clients: p50 {measured['p50_ms']:.2f} ms, "
                    f"p99 {measured['p99_ms']:.2f} ms, {measured['throughput_rps']:.0f} req/s"
                    + (f", {measured['errors']} errors" if measured["errors"] else "")
                )
    by_level = {name: {r["connections"]: r for r in rows} for name, rows in results.items()}
    ratios = {
        str(c): {
            "bento_throughput_over_kserve": round(
                by_level["bento"][c]["throughput_rps"] / by_level["kserve"][c]["throughput_rps"], 2
            ),
            "bento_p50_over_kserve": round(
                by_level["bento"][c]["p50_ms"] / by_level["kserve"][c]["p50_ms"], 2
            ),
            "gateway_p50_over_floor": round(
                by_level["gateway"][c]["p50_ms"] / by_level["floor"][c]["p50_ms"], 2
            ),
        }
        for c in levels
    }
    return {
        "targets": results,
        "ratios": ratios,
        "setup": {
            "seconds_per_level": seconds,
            "customers": CUSTOMERS,
            "largest_probability_difference": difference,
            "load_tool": "wrk 4.1, one thread, closed loop, keep-alive",
        },
    }
