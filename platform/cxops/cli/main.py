"""`cxops`: run pipelines, inspect the registry, serve and score models.

Heavy libraries (Ray, Feast, Great Expectations, BentoML) are imported inside the commands that need
them, so `cxops --help` answers at once.
"""

from __future__ import annotations

import sys
import warnings

import typer

from cxops.cli import (
    api,
    audit,
    auth,
    canary,
    deploy,
    dpia,
    gdpr,
    models,
    monitor,
    pipeline,
    recommend,
    report,
    scoring,
    serving,
    triage,
)
from cxops.cli._output import err_console
from cxops.errors import CXOpsError

app = typer.Typer(
    name="cxops",
    help="CXOps: the MLOps platform for customer-service models (churn, intent, sentiment, offers).\n\n"
    "Configuration comes from CXOPS_* environment variables (see the README); local state lives in "
    "./.cxops unless CXOPS_HOME says otherwise.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
app.add_typer(pipeline.app, name="pipeline")
app.add_typer(models.app, name="models")
app.add_typer(triage.app, name="triage")
app.add_typer(dpia.app, name="dpia")
app.add_typer(auth.app, name="auth")
app.add_typer(api.app, name="api")
app.add_typer(gdpr.app, name="gdpr")
app.add_typer(audit.app, name="audit")
app.command("report")(report.report)
app.add_typer(canary.app, name="canary")
app.add_typer(monitor.app, name="monitor")
app.add_typer(deploy.app, name="deploy")
app.command("rollback")(canary.rollback)
app.command("serve")(serving.serve)
app.command("predict")(serving.predict)
app.command("score")(scoring.score)
app.command("recommend")(recommend.recommend)


@app.command("demo")
def demo(
    data: str = typer.Option(
        "",
        help="Train churn and offers on this raw subscriber file (CSV/parquet) instead of generated data.",
    ),
    rows: int = typer.Option(5000, help="How many subscribers to generate when no --data is given."),
    messages: int = typer.Option(
        3000, help="How many support messages to generate for intent and sentiment."
    ),
) -> None:
    """Run the whole lifecycle locally for churn, intent, sentiment and offers (data → validation →
    features → Ray → registry → bento → serving), then triage, recommendations and batch scoring."""
    from cxops.demo import run_demo

    run_demo(data_path=data, rows=rows, messages=messages)


def main() -> None:
    # Feast's own config classes trip a pydantic warning on import; it says nothing to a CXOps user.
    warnings.filterwarnings("ignore", message=r"Field name .* shadows an attribute in parent")
    try:
        app()
    except CXOpsError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        sys.exit(1)
