"""`cxops dpia ...`: whether each model's data protection impact assessment holds; the DPO's sign-off."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import typer
from rich.markup import escape
from rich.table import Table

from cxops.cli._output import console
from cxops.config import Settings, get_settings

if TYPE_CHECKING:
    from cxops.registry import Registry

app = typer.Typer(
    help="Check the DPIA note of each model: present, valid, approved, in date, covering its data; sign it.",
    no_args_is_help=True,
)

_STYLE = {"ok": "green", "expired": "yellow", "uncovered": "yellow"}


@contextmanager
def _existing_registry(settings: Settings) -> Iterator[Registry | None]:
    """The metadata store when there is one; a check must not create an empty SQLite file."""
    from sqlalchemy.engine import make_url

    from cxops.registry import Registry

    url = make_url(settings.metadata_url)
    if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).is_file()):
        yield None
        return
    with Registry.from_settings(settings) as registry:
        yield registry


@app.command("status")
def status(
    model: str = typer.Option(None, "--model", "-m", help="Only this model. Default: every model."),
    as_json: bool = typer.Option(False, "--json", help="Print the statuses as JSON."),
) -> None:
    """Each model's DPIA state and what to fix; exits 1 when any model is not ok (for CI and cron).

    With a metadata store, a note edited after its last `cxops dpia sign` is not approved.

    Example: cxops dpia status --model churn
    """
    from cxops.governance.dpia import check_dpia, dpia_status
    from cxops.specs import load_spec

    settings = get_settings()
    with _existing_registry(settings) as registry:
        if model:
            statuses = [check_dpia(load_spec(model, settings), settings, registry=registry)]
        else:
            statuses = dpia_status(settings, registry=registry)
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


@app.command("sign")
def sign(
    model: str = typer.Argument(..., help="Model whose DPIA note is signed."),
    decision: Literal["approved", "rejected"] = typer.Option(..., "--decision", help="The DPO's decision."),
    review_date: datetime = typer.Option(
        ..., "--review-date", formats=["%Y-%m-%d"], help="When the assessment must be reviewed (after today)."
    ),
    comment: str = typer.Option("", "--comment", help="What was reviewed: kept in the audit log."),
) -> None:
    """Record the DPO's decision on a model's DPIA note, as CXOPS_ACTOR (needs `dpia.sign`).

    Only the note's dpo_signoff and review_date lines are rewritten; the audit log keeps the decision and
    the note's SHA-256, so a later edit shows in `cxops dpia status`.

    Example: cxops dpia sign churn --decision approved --review-date 2027-11-30 --comment "legal review"
    """
    from cxops.cli._governance import governance
    from cxops.governance.dpia import sign_dpia

    with governance() as (gov, actor):
        record = sign_dpia(
            gov, actor, model, decision=decision, review_date=review_date.date(), comment=comment
        )
    signoff = record.dpo_signoff
    style = "green" if signoff.decision == "approved" else "red"
    console.print(
        f"DPIA of [bold]{escape(model)}[/] [{style}]{signoff.decision}[/] by {escape(signoff.name)} "
        f"on {signoff.date}; review by {record.review_date}"
    )
