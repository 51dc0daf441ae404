"""One triage call (`POST /v1/triage`: intent and sentiment asked concurrently, then the policy's rules),
under the same closed-loop load, with the text models asked two ways:

    v2        each call its own Open Inference Protocol request, one encoder pass per message;
    batched   `/classify`, where the bento merges concurrent requests into one encoder batch (BentoML
              adaptive batching, `serving.adaptive_batching` in the text models' specs).

The intent and sentiment bentos of the benchmark home are served once with `bentoml serve`; a
`cxops triage serve` process per variant stands in front of them. Messages are generated support
messages (EN/FR), without a customer id (churn is not asked).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from cxops.data.messages import support_messages
from cxops.serving.server import free_port, start_server

from .home import BenchHome
from .load import run_wrk
from .online import ChildProcess

ROUTES = ("v2", "batched")


def run(
    bench: BenchHome, progress, *, seconds: float, levels: tuple[int, ...] = (1, 8, 32)
) -> dict[str, Any]:
    settings = bench.settings
    messages = support_messages(n=400, seed=23)["text"].tolist()
    bodies = [json.dumps({"message": m, "channel": "email"}) for m in messages]
    cli = str(Path(sys.executable).with_name("cxops"))
    results: dict[str, list[dict[str, Any]]] = {}
    with contextlib.ExitStack() as stack:
        progress("  serving the intent and sentiment bentos")
        urls = {
            m: stack.enter_context(start_server(bench.bento(m), settings=settings)).url
            for m in ("intent", "sentiment")
        }
        for route in ROUTES:
            port = free_port()
            env = {
                **os.environ,
                **settings.to_env(),
                "CXOPS_TRIAGE_INTENT_URL": urls["intent"],
                "CXOPS_TRIAGE_SENTIMENT_URL": urls["sentiment"],
                "CXOPS_TRIAGE_TEXT_ROUTE": route,
            }
            service = ChildProcess(
                [cli, "triage", "serve", "--port", str(port)],
                env,
                settings.subdir("logs") / f"bench-triage-{route}.log",
            )
            try:
                url = f"http://127.0.0.1:{port}"
                service.wait_for(f"{url}/readyz", lambda r: True if r.status_code == 200 else None)
                run_wrk(url, "/v1/triage", bodies, connections=8, seconds=2)  # warm-up
                results[route] = []
                for connections in levels:
                    measured = run_wrk(url, "/v1/triage", bodies, connections=connections, seconds=seconds)
                    results[route].append(measured)
                    progress(
                        f"  {route:8s} {connections:>2} clients: p50 {measured['p50_ms']:.1f} ms, "
                        f"p99 {measured['p99_ms']:.1f} ms, {measured['throughput_rps']:.0f} req/s"
                        + (f", {measured['errors']} errors" if measured["errors"] else "")
                    )
            finally:
                service.stop()
    return {"routes": results, "setup": {"messages": len(bodies), "seconds_per_level": seconds}}
