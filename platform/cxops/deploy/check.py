"""`python -m cxops.deploy.check`: render and validate everything CXOps deploys, for `make k8s-check`.

For each example value set of the chart (`helm/cxops/ci/*.yaml`): Helm's lint (strict) and render, then
every object against its schema. Then the Argo CronWorkflows and the retrain Workflow. The rendered
objects are written under `--out` (one folder per value set) for the security scan (checkov) that
`make k8s-check` runs next. Exits 1, listing every problem, when anything fails.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from cxops.config import Settings
from cxops.deploy.errors import DeployError, ManifestInvalidError
from cxops.deploy.render import CHART_DIR, load_values, render_chart, write_objects
from cxops.deploy.validate import check_manifests

__all__ = ["check_all", "lint_chart", "main"]

VALUE_SETS = CHART_DIR / "ci"
_WARNING = 2


def lint_chart(chart_dir: Path, values: dict[str, Any], *, namespace: str = "cxops") -> list[str]:
    """Helm's own lint of the chart with `values` (strict: warnings count); each message, [] when clean."""
    import helm_python

    report = helm_python.lint(str(chart_dir), values, strict=True, namespace=namespace, quiet=False)
    # Helm's severities: 1 info (e.g. "icon is recommended"), 2 warning, 4 error.
    messages = [m for m in report.get("messages") or [] if int(m.get("severity", 4)) >= _WARNING]
    problems = [f"{m.get('path', '')}: {m.get('error')}" for m in messages]
    return problems + [str(e) for e in report.get("errors") or []]


def check_all(settings: Settings, out: Path | None = None) -> list[str]:
    """Every problem found (lint, render, schema); the lines of a report go to stdout as it runs."""
    from cxops.monitoring.workflows import monitoring_cron, retention_cron, retrain_workflow

    chart_dir = settings.root / CHART_DIR
    problems: list[str] = []
    value_sets = sorted((settings.root / VALUE_SETS).glob("*.yaml"))
    if not value_sets:
        return [f"no example value sets in {settings.root / VALUE_SETS}"]
    for path in value_sets:
        started = time.perf_counter()
        values = load_values([path])
        found = [f"{path.name}: lint: {p}" for p in lint_chart(chart_dir, values)]
        try:
            objects = render_chart(values, chart_dir=chart_dir)
            count = check_manifests(objects)
        except ManifestInvalidError as error:
            found += [f"{path.name}: {p}" for p in error.problems]
            count = 0
        except DeployError as error:
            found.append(f"{path.name}: {error.message}")
            objects, count = [], 0
        if out is not None and objects:
            write_objects(out / path.stem, objects)
        state = "ok" if not found else f"{len(found)} problem(s)"
        print(
            f"  chart with {path.name:<28} {count:>3} objects valid  {state}  "
            f"({time.perf_counter() - started:.1f}s)"
        )
        problems += found
    workflows = [
        monitoring_cron(settings).to_dict(),
        retention_cron(settings).to_dict(),
        retrain_workflow("churn", "manual", settings).to_dict(),
    ]
    try:
        print(f"  argo workflows                      {check_manifests(workflows):>3} objects valid  ok")
    except ManifestInvalidError as error:
        problems += error.problems
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cxops.deploy.check", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument("--out", type=Path, help="write the rendered objects here (for checkov)")
    args = parser.parse_args(argv)
    print("==> rendering and validating the chart and the workflows")
    problems = check_all(Settings(), args.out)
    for problem in problems:
        print(f"  ERROR {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
