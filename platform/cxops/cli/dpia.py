"""`cxops dpia ...`: whether each model's data protection impact assessment holds."""

from __future__ import annotations

import dataclasses
import json

import typer
from rich.markup import escape
from rich.table import Table

from cxops.cli._output import console
from cxops.config import get_settings

app = typer.Typer(
    help="Check the DPIA note of each model: present, valid, approved, in date, covering its data.",
    no_args_is_help=True,
)

_STYLE = {"ok": "green", "expired": "yellow", "uncovered": "yellow"}


@app.command("status")
def status(
    model: str = typer.Option(None, "--model", "-m", help="Only this model. Default: every model."),
    as_json: bool = typer.Option(False, "--json", help="Print the statuses as JSON."),
) -> None:
    """Each model's DPIA state and what to fix; exits 1 when any model is not ok (for CI and cron).

    Example: cxops dpia status --model churn
    """
    from cxops.governance.dpia import check_dpia, dpia_status
    from cxops.specs import load_spec

    settings = get_settings()
    statuses = [check_dpia(load_spec(model, settings), settings)] if model else dpia_status(settings)
    if as_json:
        console.print_json(json.dumps([dataclasses.asdict(s) for s in statuses], default=str))
    else:
        table = Table("model", "state", "review date", "problems")
        for s in statuses:
            style = _STYLE.get(s.state, "red")
            table.add_row(
                s.model,
                f"[{style}]{s.state}[/]",
                str(s.review_date or "-"),
                "\n".join(f"- {escape(p)}" for p in s.problems) or "-",
            )
        console.print(table)
    if not all(s.ok for s in statuses):
        raise typer.Exit(1)
