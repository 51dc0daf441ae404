"""`make bench`: the platform's hot paths measured against their peers, side by side, in one run.

Sections (each in `benchmarks/perf/`):

    pipelines  the four training pipelines (kfp.local, Ray) in a fresh home; churn goes to production
    training   each model's pipeline wall time; Ray's cost against the same trainer in-process
    online     one churn request: gateway+Feast, the bento, KServe's ModelServer, bare Starlette
               (p50/p95/p99, throughput at 1, 8 and 32 clients, wrk)
    batch      `cxops score churn` on a million subscribers against the raw booster's predict
    feast      the online lookup per request: SQLite and Redis through Feast, against Redis HGETALL
    drift      detection cost per window, tabular and text (the drift monitor's environment)
    triage     one triage call (intent + sentiment + rules) with and without adaptive batching

Results go to benchmarks/results/bench.json and bench.md (a Markdown table with the machine). With
`--before FILE`, the table shows an earlier run's numbers beside this one's.

    .venv/bin/python benchmarks/bench.py                     # what `make bench` runs
    .venv/bin/python benchmarks/bench.py --only online batch --keep-home /tmp/bench-home
    .venv/bin/python benchmarks/bench.py --home /tmp/bench-home --only online   # reuse its pipelines
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from perf import batch, drift, feast_lookup, home, machine, online, report, training, triage

RESULTS = Path(__file__).parent / "results"
SECTIONS = ("training", "online", "batch", "feast", "drift", "triage")


def _progress(started: float):
    def say(message: str) -> None:
        print(f"[{time.monotonic() - started:6.0f} s] {message}", flush=True)

    return say


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--home", type=Path, help="reuse the home of an earlier --keep-home run")
    parser.add_argument("--keep-home", type=Path, help="build the home here and keep it")
    parser.add_argument("--seconds", type=float, default=4.0, help="load per concurrency level")
    parser.add_argument("--rows", type=int, default=1_000_000, help="subscribers to batch-score")
    parser.add_argument("--drift-repeats", type=int, default=3, help="timed windows per drift case")
    parser.add_argument("--before", type=Path, help="an earlier bench.json to show beside this run")
    parser.add_argument("--output", type=Path, default=RESULTS / "bench.json")
    args = parser.parse_args(argv)

    started = time.monotonic()
    say = _progress(started)
    sections = args.only or SECTIONS
    results: dict[str, Any] = {
        "benchmark": "bench",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine.describe(),
        "sections": {},
    }
    say(f"machine: {machine.one_line(results['machine'])}")
    tmp = None
    failed: list[str] = []
    if args.home:
        bench = home.load(args.home)
        say(f"reusing the home at {args.home}")
    else:
        where = args.keep_home or Path(tempfile.mkdtemp(prefix="cxops-bench-"))
        tmp = None if args.keep_home else where
        bench = home.prepare(where, say)
        home.save(bench)
    try:
        work = bench.settings.subdir("bench")
        runners = {
            "training": lambda: training.run(bench, say),
            "online": lambda: online.run(bench, say, seconds=args.seconds),
            "batch": lambda: batch.run(bench, say, rows=args.rows),
            "feast": lambda: feast_lookup.run(bench, say),
            "drift": lambda: drift.run(work, say, repeats=args.drift_repeats),
            "triage": lambda: triage.run(bench, say, seconds=args.seconds),
        }
        for name in sections:
            say(f"== {name}")
            section_started = time.monotonic()
            try:
                results["sections"][name] = runners[name]()
            except Exception as exc:  # one failed section must not lose the others' numbers
                say(f"{name} failed: {type(exc).__name__}: {exc}")
                failed.append(name)
                results["sections"][name] = {"error": f"{type(exc).__name__}: {exc}"}
            results["sections"][name]["section_seconds"] = round(time.monotonic() - section_started, 1)
    finally:
        from cxops.training.ray_runtime import shutdown_ray

        shutdown_ray()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    results["pipelines"] = {
        m: {k: v for k, v in p.items() if k != "run_dir"} for m, p in bench.pipelines.items()
    }
    results["total_seconds"] = round(time.monotonic() - started, 1)
    before = json.loads(args.before.read_text()) if args.before else None
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    table = args.output.with_suffix(".md")
    table.write_text(report.markdown(results, before))
    say(f"wrote {args.output} and {table} in {results['total_seconds']:.0f} s")
    if failed:
        say(f"failed sections: {', '.join(failed)} (their errors are in {args.output})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
