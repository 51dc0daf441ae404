"""`cxops models ...`: what the registry holds."""

from __future__ import annotations

import dataclasses
import json

import typer
from rich.table import Table

from cxops.cli._governance import platform, print_gates
from cxops.cli._output import console, err_console
from cxops.config import get_settings

app = typer.Typer(
    help="List registered models, inspect a version, and move versions through stages "
    "(candidate → staging → production → archived) past the gates of policies/promotion.yaml.\n\n"
    'Example: cxops models promote churn 7 --to staging --reason "beats v6 offline"; then a '
    "compliance user runs cxops models approve churn 7 --to production; then "
    'cxops models promote churn 7 --to production --reason "...".',
    no_args_is_help=True,
)


@app.command("list")
def list_models() -> None:
    """Every model with a spec, and what the registry holds for it."""
    from cxops.specs import list_specs

    settings = get_settings()
    with platform(settings) as gov:
        summaries = {s.name: s for s in gov.list_models()}
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
    with platform() as gov:
        record = gov.get_version(model, version)
    if as_json:
        data = (
            dataclasses.asdict(record) if dataclasses.is_dataclass(record) else record.model_dump(mode="json")
        )
        console.print_json(json.dumps(data, default=str))
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


STAGE_HELP = "Target stage: staging, production, archived or candidate."


@app.command("gates")
def gates(
    model: str = typer.Argument(..., help="Model name."),
    version: int = typer.Argument(..., help="Version number."),
    to: str = typer.Option(..., "--to", help=STAGE_HELP),
) -> None:
    """Evaluate the gates of a move without making it (exit 1 when one fails)."""
    with platform() as gov:
        report = gov.check_gates(model, version, to)
    print_gates(report.gates, f"{model}:{version} {report.from_stage} → {report.to_stage}")
    if not report.passed:
        raise typer.Exit(1)


@app.command("promote")
def promote(
    model: str = typer.Argument(..., help="Model name."),
    version: int = typer.Argument(..., help="Version number."),
    to: str = typer.Option(..., "--to", help=STAGE_HELP),
    reason: str = typer.Option(..., "--reason", help="Why: kept in the history and the audit log."),
    override: bool = typer.Option(
        False, "--override", help="Admins only: move despite failing gates (recorded as an override)."
    ),
) -> None:
    """Move a version to another stage, past the gates of the move.

    Every gate is evaluated and shown; a failing gate blocks the move and says how to fix it. Promoting to
    production archives the current production version."""
    from cxops.governance.errors import GateFailedError

    with platform() as gov:
        try:
            transition = gov.promote(model, version, to, reason=reason, override=override)
        except GateFailedError as refused:
            print_gates(refused.gates, f"{model}:{version} → {to}: refused")
            err_console.print(
                f"[bold red]refused:[/] {model}:{version} stays where it is; fix the failing gates"
            )
            raise typer.Exit(1) from None
    print_gates(transition.gates, f"{model}:{version} {transition.from_stage} → {transition.to_stage}")
    if transition.override:
        err_console.print(
            f"[bold red]OVERRIDE[/] by {transition.actor}: failing gates were overridden; "
            "this is recorded in the audit log"
        )
    console.print(
        f"[green]{model}:{version}[/] {transition.from_stage} → [bold]{transition.to_stage}[/] "
        f"by {transition.actor} ({transition.role})"
    )


@app.command("approve")
def approve(
    model: str = typer.Argument(..., help="Model name."),
    version: int = typer.Argument(..., help="Version number."),
    to: str = typer.Option("production", "--to", help=STAGE_HELP),
    comment: str = typer.Option("", "--comment", help="What was reviewed."),
) -> None:
    """Approve a version's move to a stage (compliance or admin; never the version's author).

    Approvals expire after the time set in policies/promotion.yaml and are used up by the promotion."""
    with platform() as gov:
        approval = gov.approve(model, version, to, comment=comment)
    console.print(
        f"[green]approved[/] {model}:{version} → {approval.target_stage} by {approval.approver} "
        f"({approval.role}); valid until {approval.expires_at:%Y-%m-%d %H:%M %Z}"
    )


@app.command("history")
def history(
    model: str = typer.Argument(..., help="Model name."),
    show_gates: bool = typer.Option(False, "--gates", help="Also print the gates of each transition."),
    as_json: bool = typer.Option(False, "--json", help="Print the transitions as JSON."),
) -> None:
    """Every stage change of a model: who, when, why, which gates, which approvals."""
    with platform() as gov:
        transitions = gov.history(model)
    if as_json:
        rows = [t.to_dict() if hasattr(t, "to_dict") else t.model_dump(mode="json") for t in transitions]
        console.print_json(json.dumps(rows, default=str))
        return
    table = Table(
        "when", "version", "from", "to", "by", "reason", "gates", "approvals", title=f"{model} history"
    )
    for t in transitions:
        passed = sum(1 for g in t.gates if (g["passed"] if isinstance(g, dict) else g.passed))
        gates_cell = f"{passed}/{len(t.gates)} passed" if t.gates else "-"
        if t.override:
            gates_cell += " [bold red]OVERRIDE[/]"
        table.add_row(
            f"{t.created_at:%Y-%m-%d %H:%M:%S}",
            str(t.version),
            t.from_stage,
            t.to_stage,
            f"{t.actor} ({t.role})",
            t.reason,
            gates_cell,
            ", ".join(a["approver"] for a in t.approvals) or "-",
        )
    console.print(table)
    if show_gates:
        for t in transitions:
            if t.gates:
                print_gates(
                    t.gates, f"v{t.version} {t.from_stage} → {t.to_stage} at {t.created_at:%Y-%m-%d %H:%M}"
                )
