"""Command line of the drift monitor: `python -m cxops_drift serve | check-bundle`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["build_parser", "main"]

DESCRIPTION = """\
CXOps drift monitor: watches the inputs of served model versions for drift and data-quality problems.

It receives the inference requests that KServe's payload logger sends as CloudEvents (POST /), gathers them
in tumbling windows per model version, and tests each full window against the version's reference sample
with Alibi Detect (TabularDrift / KSDrift / MMDDrift; text through sentence embeddings). Results go to
<state>/results.jsonl, GET /v1/results, Prometheus (/metrics) and, optionally, an alert webhook.

It runs in its own environment (.venv-monitor, `make monitor-env`): Alibi Detect 0.11.4 is the last
Apache-2.0 release and needs pydantic 1 and numpy < 1.25.
"""

SERVE_EPILOG = """\
examples:
  python -m cxops_drift serve --state .cxops/drift
  python -m cxops_drift serve --host 0.0.0.0 --port 8091 --state /var/lib/cxops-drift \\
      --alert-url http://cxops-api:8000/v1/monitoring/alerts      # token from CXOPS_DRIFT_ALERT_TOKEN

then register a version (fits and saves its detector; a restart reloads it):
  curl -X POST localhost:8091/v1/detectors -H 'content-type: application/json' \\
      -d '{"model": "churn", "version": "7", "bundle": "/abs/path/to/churn/7/drift"}'
and point KServe's logger (spec.predictor.logger: {mode: request, url: http://<host>:8091/}) at it.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cxops_drift",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="run the HTTP service",
        description="Run the drift monitor's HTTP service (uvicorn). The API is in docs/drift-monitor.md.",
        epilog=SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8091, help="port to bind (default: %(default)s)")
    serve.add_argument(
        "--state",
        type=Path,
        default=os.environ.get("CXOPS_DRIFT_STATE"),
        required="CXOPS_DRIFT_STATE" not in os.environ,
        help="directory of saved detectors and results.jsonl, created if missing (env CXOPS_DRIFT_STATE)",
    )
    serve.add_argument(
        "--alert-url",
        default=os.environ.get("CXOPS_DRIFT_ALERT_URL"),
        help="POST each drift / data_quality result here, e.g. the platform's /v1/monitoring/alerts "
        "(env CXOPS_DRIFT_ALERT_URL)",
    )
    serve.add_argument(
        "--alert-token",
        default=os.environ.get("CXOPS_DRIFT_ALERT_TOKEN"),
        help="bearer token for the webhook; prefer the env CXOPS_DRIFT_ALERT_TOKEN (arguments show in `ps`)",
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="(default: %(default)s)",
    )
    serve.add_argument(
        "--access-log", action="store_true", help="log every HTTP request (off: events are many)"
    )
    check = commands.add_parser(
        "check-bundle",
        help="check a drift reference bundle without serving",
        description="Read and check a bundle (monitor.json + reference.csv) as POST /v1/detectors would, "
        "and print its settings. Exit status 1 when it is not usable.",
    )
    check.add_argument("bundle", type=Path, help="the bundle directory")
    return parser


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from cxops_drift.app import create_app
    from cxops_drift.service import DriftService

    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    service = DriftService(args.state, alert_url=args.alert_url, alert_token=args.alert_token)
    uvicorn.run(
        create_app(service),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=args.access_log,
        timeout_graceful_shutdown=30,
    )
    return 0


def _check_bundle(args: argparse.Namespace) -> int:
    from cxops_drift.bundle import load_bundle
    from cxops_drift.errors import DriftError

    try:
        bundle = load_bundle(args.bundle)
    except DriftError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    summary = {
        "bundle": str(bundle.directory),
        "reference_rows_used": len(bundle.reference),
        "reference_rows_dropped": bundle.dropped,
        "dropped_examples": bundle.dropped_examples,
        "settings": bundle.spec.to_dict(),
    }
    print(json.dumps(summary, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    return _check_bundle(args)
