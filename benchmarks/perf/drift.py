"""Drift detection cost per window, tabular (churn) and text (Banking77 messages): `drift_cost.py` run in
the drift monitor's own environment (`.venv-monitor`, Alibi Detect), with fewer repeats."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parents[1]
MONITOR_PYTHON = BENCHMARKS.parent / ".venv-monitor" / "bin" / "python"


def run(work: Path, progress, *, repeats: int, sizes: tuple[int, ...] = (100, 300)) -> dict[str, Any]:
    if not MONITOR_PYTHON.exists():
        raise RuntimeError(f"{MONITOR_PYTHON} is missing; `make monitor-env` creates it")
    output = work / "drift_cost.json"
    command = [str(MONITOR_PYTHON), str(BENCHMARKS / "drift_cost.py"), "--repeats", str(repeats)]
    command += ["--sizes", *map(str, sizes), "--output", str(output)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=BENCHMARKS.parent)
    cases = json.loads(output.read_text())["results"]
    results = {}
    for case, measured in cases.items():
        results[case] = {
            str(w["window_rows"]): {
                "seconds_per_window": w["seconds_per_window"],
                "rows_per_second": w["rows_per_second"],
            }
            for w in measured["windows"]
        }
        row = ", ".join(f"{n} rows {v['rows_per_second']:,.0f} rows/s" for n, v in results[case].items())
        progress(f"  {case}: {row}")
    return {"detectors": results, "setup": {"repeats": repeats, "reference_rows": 1000}}
