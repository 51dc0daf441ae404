"""A fresh CXOps home for the benchmarks: the four training pipelines, timed, and churn in production.

Everything runs the platform's own code on the embedded defaults (SQLite metadata store, Feast with a
SQLite online store, Ray started locally), as `make demo` does: churn and recommendation on the shared
Telco file, intent and sentiment on generated support messages.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from cxops.config import Settings

DATASETS = Path(
    os.environ.get("CXOPS_SHARED_DATASETS", Path(__file__).resolve().parents[3] / "shared" / "datasets")
)
"""The shared public datasets beside the checkout (CXOPS_SHARED_DATASETS elsewhere)."""
TELCO = DATASETS / "telco_churn" / "telco_churn_train.csv"
MODELS = ("churn", "intent", "sentiment", "recommendation")
MESSAGES = 1500
"""Generated support messages per text model (half the demo's 3,000, to keep `make bench` under 15
minutes: embedding them dominates the text pipelines)."""
ENGINEER, ADMIN = "maya", "root-admin"


@dataclass
class BenchHome:
    settings: Settings
    pipelines: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per model: wall seconds of the whole pipeline, the version and bento it registered."""

    def bento(self, model: str) -> str:
        return self.pipelines[model]["bento"]


def new_settings(home: Path) -> Settings:
    return Settings(
        home=home,
        actor=ENGINEER,
        feast_project=f"bench_{uuid.uuid4().hex[:8]}",
        pseudonym_key=SecretStr("benchmark-pseudonym-key-0123456789abcdef"),
    )


@contextlib.contextmanager
def output_to(log: Path) -> Iterator[None]:
    """This process's stdout and stderr (and so the pipeline steps' streamed logs) go to `log`."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log.open("ab") as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def prepare(home: Path, progress) -> BenchHome:
    """Run the training pipeline of each model (kfp.local, Ray training) and promote churn to production."""
    from cxops.lifecycle.pipeline import run_pipeline

    if not TELCO.is_file():
        raise SystemExit(f"the shared Telco file is missing: {TELCO}")
    bench = BenchHome(new_settings(home))
    runs = bench.settings.subdir("pipeline_runs")
    log = bench.settings.subdir("logs") / "bench-pipelines.log"
    for model in MODELS:
        progress(f"training pipeline for {model} (kfp.local; its log: {log})")
        before = set(runs.iterdir())
        started = time.perf_counter()
        with output_to(log):
            if model in ("intent", "sentiment"):
                result = run_pipeline(model, bench.settings, rows=MESSAGES)
            else:
                result = run_pipeline(model, bench.settings, data_path=str(TELCO))
        seconds = time.perf_counter() - started
        (run_dir,) = set(runs.iterdir()) - before
        bench.pipelines[model] = {
            "wall_s": round(seconds, 1),
            "version": result["version"],
            "bento": result["bento"],
            "run_dir": run_dir,
            "data": f"{MESSAGES} generated messages" if model in ("intent", "sentiment") else TELCO.name,
        }
        progress(f"  {model} v{result['version']} in {seconds:.0f} s")
    promote_churn(bench)
    return bench


def promote_churn(bench: BenchHome) -> None:
    """Churn's new version to production through staging (an admin's override: the gates are not measured)."""
    from cxops.governance.service import Governance
    from cxops.registry import Stage

    with Governance.from_settings(bench.settings) as gov:
        admin, version = gov.actor(ADMIN), bench.pipelines["churn"]["version"]
        for stage in (Stage.STAGING, Stage.PRODUCTION):
            gov.promote(admin, "churn", version, stage, reason="benchmark home", override=True)


_STATE = "bench-home.json"


def save(bench: BenchHome) -> None:
    """What a later `--home` run needs to reuse this home (its settings and pipelines)."""
    state = {
        "feast_project": bench.settings.feast_project,
        "pipelines": {m: {**p, "run_dir": str(p["run_dir"])} for m, p in bench.pipelines.items()},
    }
    (bench.settings.home / _STATE).write_text(json.dumps(state, indent=2, default=str))


def load(home: Path) -> BenchHome:
    path = home / _STATE
    if not path.is_file():
        raise SystemExit(f"{home} is not a benchmark home (no {_STATE}); build one with --keep-home")
    state = json.loads(path.read_text())
    settings = new_settings(home).model_copy(update={"feast_project": state["feast_project"]})
    pipelines = {m: {**p, "run_dir": Path(p["run_dir"])} for m, p in state["pipelines"].items()}
    return BenchHome(settings, pipelines)
