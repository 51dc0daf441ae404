"""`cxops audit ...`: lineage of a version, versions trained on some data, the audit log and its chain.

Every command acts as CXOPS_ACTOR, with the permissions `policies/roles.yaml` gives that user.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from cxops.cli._governance import platform
from cxops.cli._output import console, err_console
from cxops.config import get_settings

app = typer.Typer(
    help="Audit: the lineage of a model version, versions trained on a dataset or feature view, the audit "
    "log and the verification of its hash chain.",
    no_args_is_help=True,
)

_RELATIVE = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _moment(value: str | None, option: str) -> datetime | None:
    """An ISO date or date-time (UTC when no offset is given), or a span back from now: 30m, 24h, 7d, 2w."""
    if value is None:
        return None
    if match := _RELATIVE.match(value.strip()):
        return datetime.now(UTC) - timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is neither an ISO date/time (2026-03-01, 2026-03-01T12:00+01:00) nor a span back "
            "from now (30m, 24h, 7d, 2w)",
            param_hint=option,
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command("lineage")
def lineage(
    model: str = typer.Argument(..., help="Model name."),
    version: int = typer.Option(..., "--version", "-v", help="Version number."),
    svg: Path = typer.Option(None, "--svg", help="Also write the graph as SVG to this file."),
    html: Path = typer.Option(None, "--html", help="Also write a standalone HTML page of the graph here."),
    as_json: bool = typer.Option(False, "--json", help="Print the graph as JSON instead of a tree."),
) -> None:
    """Where a version comes from and where it went: dataset → validation → features → training run →
    version → bento → deployments, and its stage changes.

    Example: cxops audit lineage churn --version 7 --svg churn-7.svg
    """
    from cxops.governance.lineage import lineage_of, to_dict, to_svg, to_text
    from cxops.governance.service import Governance

    settings = get_settings()
    with Governance.from_settings(settings) as gov:
        graph = lineage_of(gov, gov.actor(settings.actor), model, version)
    if as_json:
        console.print_json(json.dumps(to_dict(graph), default=str))
    else:
        console.print(escape(to_text(graph)), end="", soft_wrap=True)
    if svg is not None:
        svg.parent.mkdir(parents=True, exist_ok=True)
        svg.write_text(to_svg(graph), encoding="utf-8")
        err_console.print(f"wrote {escape(str(svg))}")
    if html is not None:
        from cxops.governance.report import lineage_page

        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(lineage_page(graph), encoding="utf-8")
        err_console.print(f"wrote {escape(str(html))}")


@app.command("trained-on")
def trained_on(
    dataset_version: str = typer.Option(
        None, "--dataset-version", "-d", help="Dataset snapshot (content hash)."
    ),
    feature_view: str = typer.Option(None, "--feature-view", "-f", help="Feast feature view name."),
    as_json: bool = typer.Option(False, "--json", help="Print the versions as JSON."),
) -> None:
    """Every model version trained on a dataset snapshot or reading a feature view (both: on both).

    Example: cxops audit trained-on --feature-view customer_billing
    """
    from cxops.governance.lineage import versions_trained_on
    from cxops.governance.service import Governance

    if dataset_version is None and feature_view is None:
        raise typer.BadParameter("pass --dataset-version or --feature-view (or both)")
    settings = get_settings()
    with Governance.from_settings(settings) as gov:
        records = versions_trained_on(
            gov, gov.actor(settings.actor), dataset_version=dataset_version, feature_view=feature_view
        )
    if as_json:
        rows = [
            {
                "model": r.model,
                "version": r.version,
                "stage": r.stage.value,
                "dataset_version": r.dataset_version,
                "feature_views": r.lineage.get("feature_views") or [],
                "created_at": r.created_at.isoformat(),
            }
            for r in records
        ]
        console.print_json(json.dumps(rows))
        return
    if not records:
        console.print("no model version matches")
        return
    table = Table("model", "version", "stage", "dataset", "feature views", "registered")
    for r in records:
        table.add_row(
            escape(r.model),
            str(r.version),
            r.stage.value,
            escape((r.dataset_version or "-")[:16]),
            escape(", ".join(r.lineage.get("feature_views") or []) or "-"),
            f"{r.created_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


@app.command("log")
def log(
    model: str = typer.Option(None, "--model", "-m", help="Only events of this model."),
    version: int = typer.Option(None, "--version", "-v", help="Only events of this version."),
    actor: str = typer.Option(None, "--actor", "-a", help="Only events by this user."),
    action: str = typer.Option(None, "--action", help="Only actions starting with this, e.g. stage or gdpr."),
    since: str = typer.Option(None, "--since", help="From this moment on: 2026-03-01, an ISO time, or 7d."),
    until: str = typer.Option(None, "--until", help="Before this moment (same forms as --since)."),
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="At most this many events."),
    as_json: bool = typer.Option(False, "--json", help="Print the events as JSON."),
) -> None:
    """The audit log, newest first.

    Example: cxops audit log --model churn --action stage --since 30d
    """
    since_at, until_at = _moment(since, "--since"), _moment(until, "--until")
    with platform() as gov:
        events = gov.audit_log(
            model=model,
            version=version,
            actor=actor,
            action=action,
            since=since_at,
            until=until_at,
            limit=limit,
        )
    if as_json:
        rows = [
            {
                "seq": e.seq,
                "created_at": e.created_at.isoformat(),
                "actor": e.actor,
                "role": e.role,
                "action": e.action,
                "model": e.model,
                "version": e.version,
                "reason": e.reason,
                "payload": e.payload,
                "hash": e.hash,
            }
            for e in events
        ]
        console.print_json(json.dumps(rows, default=str))
        return
    table = Table("seq", "time (UTC)", "actor", "action", "model", "reason", "payload")
    for e in events:
        target = "-" if e.model is None else e.model + (f":{e.version}" if e.version is not None else "")
        payload = json.dumps(e.payload, sort_keys=True, default=str)
        table.add_row(
            str(e.seq),
            f"{e.created_at:%Y-%m-%d %H:%M:%S}",
            escape(f"{e.actor} ({e.role})"),
            escape(e.action),
            escape(target),
            escape(e.reason or "-"),
            escape(payload if len(payload) <= 120 else payload[:119] + "…"),
        )
    console.print(table)
    if not events:
        console.print("no event matches")


@app.command("verify")
def verify() -> None:
    """Recompute the audit log's hash chain; exits 1 and names the first broken link if it was tampered with.

    Keep the printed head hash elsewhere: a later head that does not descend from it means the tail was cut.
    """
    with platform() as gov:
        result = gov.verify_audit()
    if result.ok:
        console.print(f"[green]ok[/]: {result.events} events, head {result.head}")
        return
    err_console.print(
        f"[bold red]broken[/] at event {result.first_broken}: {escape(result.problem)} "
        f"({result.events} events before it verified; last good hash {result.head})"
    )
    raise typer.Exit(1)
