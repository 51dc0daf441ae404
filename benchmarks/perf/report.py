"""The Markdown table of a `make bench` run (benchmarks/results/bench.md), beside an earlier run if given."""

from __future__ import annotations

from typing import Any

from .machine import one_line

LEGENDS = {
    "gateway": "(a) gateway → bento → Feast lookup by customer id",
    "bento_by_id": "(a′) bento → Feast lookup by customer id, no gateway",
    "bento": "(b) bento alone, features in the request",
    "kserve": "(c) KServe `ModelServer`, same model",
    "floor": "(d) bare Starlette/uvicorn, in-process model (floor)",
}


def _get(data: dict[str, Any] | None, *path: Any) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _n(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, int | float) and abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _goal(ok: bool) -> str:
    return "met" if ok else "**not met**"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(_n(c) if not isinstance(c, str) else c for c in row) + " |" for row in rows]
    return lines + [""]


def _online(section: dict[str, Any], before: dict[str, Any] | None) -> list[str]:
    out = ["## 1. Online scoring of one churn request (V2, wrk closed loop)", ""]
    header = ["target", "clients", "p50 ms", "p95 ms", "p99 ms", "req/s", "errors"]
    if before:
        header += ["before p50 ms", "before req/s"]
    rows = []
    for name, levels in section["targets"].items():
        old = {r["connections"]: r for r in _get(before, "targets", name) or []}
        for r in levels:
            row = [LEGENDS.get(name, name), r["connections"], r["p50_ms"], r["p95_ms"], r["p99_ms"]]
            row += [r["throughput_rps"], r["errors"]]
            if before:
                prior = old.get(r["connections"], {})
                row += [prior.get("p50_ms"), prior.get("throughput_rps")]
            rows.append(row)
    out += _table(header, rows)
    out += ["Goals: (b) at least as fast as (c); (a) within 1.5× of (d) at the median.", ""]
    rows = []
    for clients, ratio in section["ratios"].items():
        rows.append(
            [
                clients,
                f"{ratio['bento_throughput_over_kserve']:.2f}× "
                f"({_goal(ratio['bento_throughput_over_kserve'] >= 1.0)})",
                f"{ratio['bento_p50_over_kserve']:.2f}×",
                f"{ratio['gateway_p50_over_floor']:.2f}× ({_goal(ratio['gateway_p50_over_floor'] <= 1.5)})",
            ]
        )
    out += _table(["clients", "(b)/(c) throughput", "(b)/(c) p50", "(a)/(d) p50"], rows)
    return out


def _batch(section: dict[str, Any], before: dict[str, Any] | None) -> list[str]:
    out = [f"## 2. Batch scoring of {section['rows']:,} subscribers", ""]
    header = ["what", "seconds", "rows/s"] + (["before rows/s"] if before else [])
    rows = [
        ["`cxops score churn` (CLI, end to end)", section["cli_seconds"], section["cli_rows_per_s"]]
        + ([_get(before, "cli_rows_per_s")] if before else []),
        [
            "raw `booster.predict` on encoded rows",
            section["raw_predict_seconds"],
            section["raw_predict_rows_per_s"],
        ]
        + ([_get(before, "raw_predict_rows_per_s")] if before else []),
    ]
    out += _table(header, rows)
    ratio = section["ratio_cli_to_raw"]
    out += [f"CLI / raw predict: {ratio:.2f}× (goal ≥ 0.8×: {_goal(ratio >= 0.8)}).", ""]
    return out


def _feast(section: dict[str, Any], before: dict[str, Any] | None) -> list[str]:
    out = ["## 3. Online feature lookup per request (one customer)", ""]
    header = ["lookup", "p50 ms", "p95 ms", "p99 ms", "p50 / HGETALL"] + (["before p50 ms"] if before else [])
    rows = []
    for name, r in section["lookups"].items():
        row = [name, r["p50_ms"], r["p95_ms"], r["p99_ms"], f"{r['p50_over_hgetall']:.1f}×"]
        rows.append(row + ([_get(before, "lookups", name, "p50_ms")] if before else []))
    return out + _table(header, rows)


def _training(section: dict[str, Any], _: dict[str, Any] | None) -> list[str]:
    out = ["## 4. Training: pipeline wall time, and Ray against the same trainer in-process", ""]
    header = ["model", "data", "pipeline s", "train step on Ray s", "Ray start s", "Ray fit s"]
    header += ["same trainer in-process s", "Ray overhead s"]
    rows = [
        [m, r["data"], r["pipeline_wall_s"], r["train_step_on_ray_s"], r["ray_start_s"], r["ray_fit_s"]]
        + [r["same_training_in_process_s"], r["ray_overhead_s"]]
        for m, r in section["models"].items()
    ]
    return out + _table(header, rows)


def _drift(section: dict[str, Any], _: dict[str, Any] | None) -> list[str]:
    out = ["## 5. Drift detection cost per window", ""]
    sizes = sorted({int(s) for case in section["detectors"].values() for s in case})
    header = ["detector"] + [f"{s} rows: s / rows/s" for s in sizes]
    rows = []
    for case, windows in section["detectors"].items():
        cells = []
        for s in sizes:
            w = windows.get(str(s))
            cells.append("–" if w is None else f"{w['seconds_per_window']:.3f} / {w['rows_per_second']:,.0f}")
        rows.append([case, *cells])
    return out + _table(header, rows)


def _triage(section: dict[str, Any], before: dict[str, Any] | None) -> list[str]:
    out = ["## 6. Triage call (intent + sentiment + rules), with and without adaptive batching", ""]
    header = ["model calls", "clients", "p50 ms", "p95 ms", "p99 ms", "req/s", "errors"]
    rows = []
    for name, levels in section["routes"].items():
        for r in levels:
            rows.append([name, r["connections"], r["p50_ms"], r["p95_ms"], r["p99_ms"], r["throughput_rps"]])
            rows[-1].append(r["errors"])
    return out + _table(header, rows)


RENDER = {
    "online": _online,
    "batch": _batch,
    "feast": _feast,
    "training": _training,
    "drift": _drift,
    "triage": _triage,
}


def markdown(results: dict[str, Any], before: dict[str, Any] | None = None) -> str:
    out = [
        "# CXOps benchmarks (`make bench`)",
        "",
        f"Machine: {one_line(results['machine'])}.",
        f"Measured {results['measured_at']}; the run took {results['total_seconds']:.0f} s.",
    ]
    if before:
        out.append(f'"before" columns: the run of {before["measured_at"]} on the code before the changes.')
    out.append("")
    for name in ("online", "batch", "feast", "training", "drift", "triage"):
        section = results["sections"].get(name)
        if section is None:
            continue
        if "error" in section:
            out += [f"## {name}: failed", "", f"`{section['error']}`", ""]
            continue
        out += RENDER[name](section, _get(before, "sections", name))
    return "\n".join(out)
