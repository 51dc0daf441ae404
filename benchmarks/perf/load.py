"""Closed-loop load on loopback with `wrk` (Debian's wrk 4.1): N connections, each sending its next
request as soon as the previous answer arrives, for a fixed duration.

The request bodies come from a file, one JSON body a line, sent in turn (each connection starts at its
own offset), so lookups do not hit one cached customer. wrk's Lua `done` hook prints the latency
percentiles and error counts as one JSON line.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

_SCRIPT = r"""
local bodies = {}
local index = 0
local path = "/"
function init(args)
  path = args[2]
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  index = math.random(#bodies)
end
function request()
  index = index % #bodies + 1
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, bodies[index])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,' ..
    '"status_errors":%d,"timeouts":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.mean, latency.max))
end
"""


class LoadToolMissing(RuntimeError):
    pass


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise LoadToolMissing("wrk is not installed; `make bench` installs it (apt-get install wrk)")
    return path


def run_wrk(
    base_url: str, path: str, bodies: list[str], *, connections: int, seconds: float, timeout_s: float = 10
) -> dict[str, Any]:
    """Latency percentiles (ms), throughput (requests/s) and error counts of one closed-loop run."""
    wrk = require_wrk()
    with tempfile.TemporaryDirectory(prefix="cxops-wrk-") as tmp:
        script, data = Path(tmp) / "post.lua", Path(tmp) / "bodies.jsonl"
        script.write_text(_SCRIPT)
        data.write_text("\n".join(bodies) + "\n")
        command = [
            wrk,
            "--threads",
            "1",
            "--connections",
            str(connections),
            "--duration",
            f"{seconds:g}s",
            "--timeout",
            f"{timeout_s:g}s",
            "--script",
            str(script),
            base_url,
            "--",
            str(data),
            path,
        ]
        out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True)
    line = next((ln for ln in reversed(out.stdout.splitlines()) if ln.startswith("{")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{out.stdout}\n{out.stderr}")
    raw = json.loads(line)
    errors = sum(
        raw[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    return {
        "connections": connections,
        "requests": raw["requests"],
        "errors": errors,
        "throughput_rps": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p95_ms": round(raw["p95_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "mean_ms": round(raw["mean_us"] / 1000, 2),
    }
