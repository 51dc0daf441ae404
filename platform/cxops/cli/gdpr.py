"""`cxops gdpr ...`: erase a customer on request, purge what is past retention, list retraining flags."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import typer
from rich.markup import escape
from rich.table import Table

from cxops.cli._governance import governance
from cxops.cli._output import console

app = typer.Typer(
    help="Erase a customer from every store (GDPR art. 17), purge data past its retention period "
    "(policies/retention.yaml), and list the model versions to retrain.",
    no_args_is_help=True,
)


@app.command("erase")
def erase(
    customer_id: str = typer.Option(
        ..., "--customer-id", help="The customer's raw id (e.g. its customerID)."
    ),
    reason: str = typer.Option(
        ..., "--reason", help="Why: the request reference, recorded in the audit log."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Remove one customer from the feature stores, request logs and dataset snapshots, and flag every
    active model version trained on their rows for retraining. Acts as CXOPS_ACTOR (needs gdpr.erase).

    Example: cxops gdpr erase --customer-id 7590-VHVEG --reason "erasure request #4411"
    """
    from cxops.governance.gdpr import erase_subject

    with governance() as (gov, actor):
        report = erase_subject(gov, actor, customer_id, reason=reason)
    if as_json:
        console.print_json(json.dumps(report.to_dict(), default=str))
        return
    console.print(
        f"erased customer [bold]{report.subject}[/] (pseudonym): {report.total} row(s) removed; "
        f"audit event {report.audit_seq}"
    )
    counts = Table("store", "rows removed")
    for name, count in report.counts.items():
        counts.add_row(name, str(count))
    console.print(counts)
    if not report.flagged:
        console.print("no active model version was trained on this customer's rows")
        return
    flagged = Table("model", "version", "stage", "dataset", "retrain by", title="flagged for retraining")
    for f in report.flagged:
        note = "" if f.new else " (earlier flag)"
        flagged.add_row(f.model, str(f.version), f.stage, f.dataset_version, f"{f.due_by:%Y-%m-%d}{note}")
    console.print(flagged)


@app.command("purge")
def purge(
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would go; change nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Drop every row older than its store's retention period. Idempotent: schedule it (daily, say).
    Acts as CXOPS_ACTOR (needs gdpr.purge).

    Example: cxops gdpr purge --dry-run
    """
    from cxops.governance.gdpr import purge_expired

    with governance() as (gov, actor):
        report = purge_expired(gov, actor, dry_run=dry_run)
    if as_json:
        console.print_json(json.dumps(report.to_dict(), default=str))
        return
    verb = "would remove" if dry_run else "removed"
    table = Table("store", "retention", "older than", f"rows {verb}")
    for name, count in report.counts.items():
        table.add_row(name, report.periods[name], f"{report.cutoffs[name]:%Y-%m-%d %H:%M}", str(count))
    console.print(table)
    recorded = "dry run: nothing changed" if dry_run else f"audit event {report.audit_seq}"
    console.print(f"{report.total} row(s) {verb}; {recorded}")


@app.command("flags")
def flags(
    model: str = typer.Option(None, "--model", "-m", help="Only this model. Default: every model."),
    resolved: bool = typer.Option(False, "--all", help="Include resolved flags."),
    as_json: bool = typer.Option(False, "--json", help="Print the flags as JSON."),
) -> None:
    """Model versions trained on data that has since been erased, with their retraining deadline."""
    from cxops.governance.gdpr import retraining_flags

    with governance() as (gov, actor):
        found = retraining_flags(gov, actor, model, include_resolved=resolved)
    if as_json:
        console.print_json(json.dumps([f.to_dict() for f in found], default=str))
        return
    if not found:
        console.print("no open retraining flag")
        return
    now = datetime.now(UTC)
    table = Table("model", "version", "retrain by", "state", "audit event", "reason")
    for f in found:
        state = "resolved" if f.resolved_at else "[red]overdue[/]" if f.overdue(now) else "open"
        table.add_row(
            f.model, str(f.version), f"{f.due_by:%Y-%m-%d}", state, str(f.audit_seq or "-"), escape(f.reason)
        )
    console.print(table)
