"""A canary under steady load: zero failed requests, and the measured split at each step near its target.

After `make demo`, on a copy of its metadata store (the demo's own is left alone): the production churn
bento is served twice, as production and as a candidate version registered from the same bento (so the
numbers measure the gateway and the canary machinery, not a difference between models), behind the local
canary gateway (`cxops canary gateway`'s code). An open-loop client sends `--rate` V2 requests a second,
each for a customer drawn from the consent records (objecting customers included), while an SRE moves
the canary through the records:

    direct     the same load straight at the stable server (the baseline for latency)
    0          gateway, no canary
    25, 50, 100  `cxops canary start --steps 25,50,100`, then `cxops canary set` to 50 and 100
    rolled back  `cxops rollback`

Requests sent in the `--settle` seconds after a change are reported apart (the gateway re-reads the
records every second). The split is measured over customers who did not object to profiling; objecting
customers must all be answered by stable. Results, with the machine, go to
benchmarks/results/canary_load.json.

    .venv/bin/python benchmarks/canary_load.py --rate 20 --phase 90

The default rate is what one churn server answers on a two-core machine with room to spare; the phase
is long enough that the binomial noise of a measured share (about 1.2 points at 50 %) stays well inside
the tolerance.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from cxops.canary.consent import ProfilingOptOut
from cxops.canary.gateway import create_gateway
from cxops.canary.load import LoadRun, Sent, warm_up
from cxops.canary.local import bento_launcher, local_routes
from cxops.canary.service import CanaryService
from cxops.config import Settings
from cxops.errors import CXOpsError
from cxops.features.client import FeatureStoreClient
from cxops.governance.service import Governance
from cxops.registry import Registry, Stage
from cxops.serving.thread_server import ThreadServer

MODEL = "churn"
SRE, ADMIN = "sam", "root-admin"
TOLERANCE = 3.0
"""Acceptance: the measured split of each step within this many points of its target."""


def _copy_of(home: Path, into: Path) -> Settings:
    """A home that shares the demo's bentos, Feast store and key, with its own metadata store and logs."""
    if not (home / "cxops.db").is_file():
        raise CXOpsError(f"no metadata store in {home}; run `make demo` first (or pass --home)")
    into.mkdir(parents=True)
    for entry in home.iterdir():
        if entry.name == "cxops.db":
            shutil.copy2(entry, into / entry.name)
        elif entry.name not in ("logs", "reports", "cxops.db-wal", "cxops.db-shm"):
            (into / entry.name).symlink_to(entry)
    return Settings(home=into, actor=SRE)


def _candidate(gov: Governance) -> tuple[int, int]:
    """A staging version made from the production version's bento; returns (stable, candidate)."""
    production = gov.production_version(MODEL)
    if production is None or not production.bento_tag:
        raise CXOpsError("churn has no production version with a bento; run `make demo` first")
    registry = gov.registry
    copy = registry.register_version(
        MODEL,
        metrics=production.metrics,
        artifacts=production.artifacts,
        params=production.params,
        lineage=production.lineage,
        owner=production.owner,
        team=production.team,
        created_by="maya",
        dataset_version=production.dataset_version,
    )
    registry.set_bento(MODEL, copy.version, production.bento_tag)
    admin = gov.actor(ADMIN)
    reason = "load benchmark: the production bento again, to measure the gateway"
    gov.promote(admin, MODEL, copy.version, Stage.STAGING, reason=reason, override=True)
    return production.version, copy.version


def _customers(registry: Registry) -> tuple[list[str], list[str]]:
    offers_model = registry.get_version("recommendation")
    dataset = registry.get_dataset("recommendation", offers_model.dataset_version or "")
    offers = pd.read_parquet(dataset.uri)
    objection = offers["profiling_opt_out"]
    eligible = offers.loc[objection == "No", "customerID"].drop_duplicates().tolist()
    objecting = offers.loc[objection == "Yes", "customerID"].drop_duplicates().tolist()
    return eligible, objecting


def _latency(sent: list[Sent]) -> dict[str, float]:
    ms = np.asarray([s.latency_ms for s in sent])
    if not len(ms):
        return {}
    return {
        "median_ms": round(float(np.median(ms)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
    }


def _phase_report(
    name: str, target: float | None, sent: list[Sent], candidate: str, objecting: set[str]
) -> dict[str, Any]:
    eligible = [s for s in sent if s.customer not in objecting]
    objected = [s for s in sent if s.customer in objecting]
    versions: dict[str, set[str]] = defaultdict(set)
    for s in eligible:
        versions[s.customer].add(s.version)
    seen = Counter(s.customer for s in eligible)
    repeat = [c for c, n in seen.items() if n > 1]
    hits = sum(s.version == candidate for s in eligible)
    share = 100.0 * hits / max(len(eligible), 1)
    low, high = binomtest(hits, max(len(eligible), 1)).proportion_ci(0.95, method="wilson")
    report: dict[str, Any] = {
        "phase": name,
        "target_percent": target,
        "requests": len(sent),
        "failed": sum(s.failed for s in sent),
        "candidate_share_percent": round(share, 2),
        "candidate_share_interval95": [round(100 * low, 2), round(100 * high, 2)],
        "eligible_requests": len(eligible),
        "objecting_requests": len(objected),
        "objecting_answered_by_candidate": sum(s.version == candidate for s in objected),
        "customers_seen_more_than_once": len(repeat),
        "customers_answered_by_both_versions": sum(len(versions[c]) > 1 for c in repeat),
        **_latency(sent),
    }
    if target is not None:
        report["within_tolerance"] = abs(share - target) <= TOLERANCE
    return report


def _machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


def run(
    home: Path, rate: float, phase_s: float, settle_s: float, out: Path, raw: Path | None = None
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cxops-canary-load-") as scratch:
        settings = _copy_of(home, Path(scratch) / "home")
        with Governance.from_settings(settings) as gov:
            stable, candidate = _candidate(gov)
            eligible, objecting = _customers(gov.registry)
            canaries = CanaryService(gov)
            sre = gov.actor(SRE)
            customers = eligible + objecting
            print(
                f"churn v{stable} (production) and v{candidate} (same bento); {len(eligible)} eligible and "
                f"{len(objecting)} objecting customers; {rate:g} requests/s"
            )
            with contextlib.ExitStack() as stack:
                # Both servers stay up for the whole run (the candidate is warmed before its canary starts).
                launch = bento_launcher(canaries, settings)
                routes = stack.enter_context(local_routes(canaries, [MODEL], launch, grace_s=3600))
                stable_url = routes.servers.wait(MODEL, stable)
                for url in (stable_url, routes.servers.wait(MODEL, candidate)):
                    warm_up(url, MODEL, eligible)
                opt_out = ProfilingOptOut(FeatureStoreClient(settings))
                app = create_gateway(routes, settings, opt_out=opt_out)
                gateway = stack.enter_context(ThreadServer(app))

                print(f"direct: {phase_s:g} s at the stable server {stable_url}")
                direct = LoadRun(stable_url, MODEL, customers, rate=rate, duration_s=phase_s).start().wait()

                changes = [
                    ("0", 0.0, lambda: None),
                    ("25", 25.0, lambda: canaries.start(sre, MODEL, candidate, steps=[25, 50, 100])),
                    ("50", 50.0, lambda: canaries.set_percent(sre, MODEL, 50, reason="load benchmark")),
                    ("100", 100.0, lambda: canaries.set_percent(sre, MODEL, 100, reason="load benchmark")),
                    ("rolled back", 0.0, lambda: canaries.rollback(sre, MODEL, reason="load benchmark")),
                ]
                load = LoadRun(
                    gateway.url, MODEL, customers, rate=rate, duration_s=phase_s * len(changes) + 1
                ).start()
                marks: list[tuple[str, float | None, float]] = []
                for number, (name, target, change) in enumerate(changes):
                    time.sleep(max(0.0, number * phase_s - load.elapsed()))
                    change()
                    marks.append((name, target, load.elapsed()))
                    print(f"  {load.elapsed():6.1f} s  canary {name}")
                sent = load.wait()
                app.state.gateway.flush()
        if raw is not None:
            pd.DataFrame([vars(s) for s in sent]).to_csv(raw, index=False)

        phases, settling = [], []
        for index, (name, target, at) in enumerate(marks):
            until = marks[index + 1][2] if index + 1 < len(marks) else float("inf")
            window = [s for s in sent if at <= s.started < until]
            settling += [s for s in window if s.started < at + settle_s]
            steady = [s for s in window if s.started >= at + settle_s]
            phases.append(_phase_report(name, target, steady, str(candidate), set(objecting)))
        results = {
            "benchmark": "canary_load",
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": _machine(),
            "setup": {
                "model": MODEL,
                "stable_version": stable,
                "candidate_version": candidate,
                "servers": "bentoml serve, one process per version (the same bento), the gateway in the "
                "benchmark's process (uvicorn), the client in a thread of it; all on this machine",
                "client": "httpx AsyncClient, open loop (request i sent at i / rate), up to 32 in flight",
                "rate_per_s": rate,
                "phase_s": phase_s,
                "settle_s": settle_s,
                "gateway_refresh_s": 1.0,
                "tolerance_points": TOLERANCE,
                "customers": {"eligible": len(eligible), "objecting": len(objecting)},
            },
            "direct": {"requests": len(direct), "failed": sum(s.failed for s in direct), **_latency(direct)},
            "gateway": {
                "requests": len(sent),
                "failed": sum(s.failed for s in sent),
                "duration_s": round(max(s.started for s in sent), 1),
                **_latency(sent),
            },
            "phases": phases,
            "settling": {"requests": len(settling), "failed": sum(s.failed for s in settling)},
        }
        direct_p, gateway_p = results["direct"], results["gateway"]
        results["gateway_over_direct"] = {
            key: round(gateway_p[key] / direct_p[key], 2)
            for key in ("median_ms", "p95_ms")
            if direct_p.get(key)
        }
        results["acceptance"] = {
            "zero_failed_requests": results["gateway"]["failed"] == 0,
            "split_within_tolerance": all(p.get("within_tolerance", True) for p in phases),
            "objecting_never_on_candidate": all(p["objecting_answered_by_candidate"] == 0 for p in phases),
            "sticky": all(p["customers_answered_by_both_versions"] == 0 for p in phases),
        }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("CXOPS_HOME", ".cxops")))
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second (default 20)")
    parser.add_argument("--phase", type=float, default=90.0, help="seconds per canary step (default 90)")
    parser.add_argument("--settle", type=float, default=1.5, help="seconds after a change left out")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "canary_load.json")
    parser.add_argument("--raw", type=Path, help="also write every request (time, version, latency) as CSV")
    args = parser.parse_args()
    try:
        results = run(args.home.resolve(), args.rate, args.phase, args.settle, args.out, args.raw)
    except CXOpsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for phase in results["phases"]:
        print(
            f"  {phase['phase']:>11}: {phase['requests']} requests, {phase['failed']} failed, candidate "
            f"{phase['candidate_share_percent']}% (target {phase['target_percent']}), "
            f"p95 {phase.get('p95_ms')} ms"
        )
    print(json.dumps(results["acceptance"]), f"-> {args.out}")
    return 0 if all(results["acceptance"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
