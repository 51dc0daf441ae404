"""`cxops models ...`: what the registry holds."""

from __future__ import annotations

import dataclasses
import json

import typer
from rich.table import Table

from cxops.cli._output import console
from cxops.config import get_settings

app = typer.Typer(
    help="List registered models and inspect a version (metrics, lineage, artifacts).", no_args_is_help=True
)


@app.command("list")
def list_models() -> None:
    """Every model with a spec, and what the registry holds for it."""
    from cxops.registry import Registry
    from cxops.specs import list_specs

    settings = get_settings()
    with Registry.from_settings(settings) as registry:
        summaries = {s.name: s for s in registry.list_models()}
    table = Table("model", "versions", "latest", "stages", "last registered")
    for name in sorted(set(list_specs(settings)) | set(summaries)):
        summary = summaries.get(name)
        if summary is None:
            table.add_row(name, "0", "-", "-", "-")
            continue
        stages = ", ".join(f"{stage}: {n}" for stage, n in sorted(summary.stages.items()))
        table.add_row(
            name,
            str(summary.versions),
            str(summary.latest_version),
            stages,
            f"{summary.latest_created_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


@app.command("show")
def show(
    model: str = typer.Argument(..., help="Model name."),
    version: int = typer.Option(None, "--version", "-v", help="Version number. Default: the latest."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole record as JSON."),
) -> None:
    """One version: stage, metrics, lineage (dataset, validation, features, code, Ray) and artifacts."""
    from cxops.registry import Registry

    with Registry.from_settings(get_settings()) as registry:
        record = registry.get_version(model, version)
    if as_json:
        console.print_json(json.dumps(dataclasses.asdict(record), default=str))
        return
    console.print(
        f"[bold]{model}[/] version {record.version}  stage [bold]{record.stage}[/]  "
        f"by {record.created_by} at {record.created_at:%Y-%m-%d %H:%M:%S %Z}"
    )
    console.print(f"owner {record.owner}  team {record.team}  bento {record.bento_tag or '-'}")
    metrics = Table("metric", "value", title="metrics (held-out test split)")
    for name, value in sorted(record.metrics.items()):
        metrics.add_row(name, f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(metrics)
    lineage = Table("lineage", "value")
    for name, value in record.lineage.items():
        if name in ("spec", "training"):
            continue
        lineage.add_row(name, value if isinstance(value, str) else json.dumps(value, default=str))
    console.print(lineage)
    artifacts = Table("artifact")
    artifacts.add_column("uri", overflow="fold")
    for name, uri in sorted(record.artifacts.items()):
        artifacts.add_row(name, uri)
    console.print(artifacts)
