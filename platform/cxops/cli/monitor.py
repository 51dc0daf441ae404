"""`cxops monitor ...`: the drift monitor, alerts, the retraining they start, late labels and reports."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from cxops.cli._governance import governance
from cxops.cli._monitor_outcomes import outcomes, performance
from cxops.cli._output import console, step
from cxops.config import get_settings

app = typer.Typer(
    help="Watch served models for drift and data-quality failures (Alibi Detect, in its own environment), "
    "record alerts, retrain by policy (policies/monitoring.yaml), join late labels to predictions.\n\n"
    "Locally: `cxops monitor run` starts the drift monitor, feeds it the gateway's request log and acts on "
    "its results. Example: cxops monitor run --interval 5; cxops monitor alerts churn; "
    "cxops monitor report churn --out drift.html",
    no_args_is_help=True,
)
app.command("outcomes")(outcomes)
app.command("performance")(performance)

_MODELS_HELP = "Comma-separated models to watch. Default: every model whose spec names a drift detector."


@contextmanager
def _service() -> Iterator[tuple[Any, Any]]:
    from cxops.monitoring.service import MonitoringService

    with governance() as (gov, actor):
        yield MonitoringService(gov), actor


def _announce(message: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {escape(message)}")


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8091, help="Port to listen on."),
    alert_url: str = typer.Option(
        "",
        help="Platform API alert route to POST alerts to, e.g. http://127.0.0.1:8000/v1/monitoring/alerts.",
    ),
    alert_token: str = typer.Option(
        "", envvar="CXOPS_MONITOR_ALERT_TOKEN", help="Bearer token for --alert-url."
    ),
) -> None:
    """Run the drift monitor service in the foreground, from its own environment (`make monitor-env`).

    It takes KServe-logger CloudEvents on POST /, and answers /v1/detectors, /v1/results and /metrics.
    """
    import os

    from cxops.monitoring.local import drift_service_command, service_environment

    command = drift_service_command(
        get_settings(), host=host, port=port, alert_url=alert_url, alert_token=alert_token
    )
    os.execve(command[0], command, service_environment())


@contextmanager
def _loop(models: str) -> Iterator[tuple[Any, Any]]:
    from cxops.monitoring.client import DriftMonitorClient
    from cxops.monitoring.loop import MonitorLoop
    from cxops.monitoring.service import MonitoringService
    from cxops.telemetry import configure_telemetry

    settings = get_settings()
    configure_telemetry(settings, "cxops-monitor")
    chosen = [m.strip() for m in models.split(",") if m.strip()] or None
    with governance(settings) as (gov, _), DriftMonitorClient(settings.monitor_url) as client:
        yield MonitorLoop(MonitoringService(gov), client, models=chosen, announce=_announce), client


@app.command("run")
def run(
    interval: float = typer.Option(5.0, help="Seconds between two reads of the request log."),
    models: str = typer.Option("", help=_MODELS_HELP),
    once: bool = typer.Option(False, help="Do one round and exit (feeds what is logged, acts on results)."),
    start_service: bool = typer.Option(
        True, help="Start the drift monitor from .venv-monitor when CXOPS_MONITOR_URL does not answer."
    ),
) -> None:
    """Watch the served models: feed the request log to the drift monitor and act on its results.

    Alerts are recorded and audited; a drift alert retrains the model when policies/monitoring.yaml allows
    it (the new version lands as a candidate and goes through the gates); a data-quality failure never
    retrains. Stop with Ctrl-C.
    """
    from cxops.monitoring.local import start_drift_service

    settings = get_settings()
    service = None
    with _loop(models) as (loop, client):
        try:
            if not client.healthy():
                if not start_service:
                    typer.echo(f"the drift monitor at {settings.monitor_url} does not answer", err=True)
                    raise typer.Exit(1)
                step(f"starting the drift monitor on {settings.monitor_url} (Alibi Detect, .venv-monitor)")
                service = start_drift_service(settings)
            logs = settings.home_dir / "logs"
            step(f"watching {', '.join(loop.models)}; reading {logs} every {interval:g} s")
            while True:
                loop.tick()
                if once:
                    break
                time.sleep(interval)
        except KeyboardInterrupt:
            console.print("stopped")
        finally:
            if service is not None:
                service.stop()


@app.command("check")
def check(
    models: str = typer.Option("", help=_MODELS_HELP),
    all_models: bool = typer.Option(False, "--all", help="Every watched model (what --models empty means)."),
) -> None:
    """The scheduled check (an Argo CronWorkflow in a cluster): feed, test partial windows, and alert on the
    realised performance of production versions on late labels. Needs a running drift monitor."""
    if all_models and models:
        raise typer.BadParameter("give --all or --models, not both")
    with _loop(models) as (loop, _):
        summary = loop.check()
    console.print(
        f"sent {summary.events_sent} events; {len(summary.results)} window(s) tested; "
        f"{len(summary.alerts)} alert(s)"
    )


@app.command("status")
def status() -> None:
    """What the drift monitor watches now, and how full each window is."""
    from cxops.monitoring.client import DriftMonitorClient

    settings = get_settings()
    with DriftMonitorClient(settings.monitor_url) as client:
        detectors = client.detectors()
        latest = client.all_results()
    table = Table("model", "version", "detector", "window", "tested", "last verdict", title="drift monitor")
    for d in detectors:
        last = next(
            (
                r
                for r in reversed(latest)
                if r["model"] == d["model"] and str(r["version"]) == str(d["version"])
            ),
            None,
        )
        table.add_row(
            d["model"],
            str(d["version"]),
            str(d.get("detector", "")),
            f"{d.get('window_rows', 0)}/{d.get('window_size', '?')}",
            str(d.get("windows_tested", 0)),
            "-"
            if last is None
            else f"{last['verdict']} ({', '.join(last.get('drifted_features') or []) or '-'})",
        )
    console.print(table)


@app.command("alerts")
def alerts(
    model: str = typer.Argument(None, help="Only this model's alerts."),
    limit: int = typer.Option(20, help="How many, newest first."),
) -> None:
    """Drift, data-quality and performance alerts, and what the monitoring policy did with each."""
    with _service() as (service, actor):
        records = service.alerts(actor, model, limit=limit)
    table = Table("id", "when (UTC)", "model", "kind", "summary", "action", title="monitoring alerts")
    for a in records:
        action = a.action + (f" → run {a.retrain_run_id}" if a.retrain_run_id else "")
        table.add_row(
            str(a.id),
            f"{a.created_at:%Y-%m-%d %H:%M}",
            a.model if a.version is None else f"{a.model}:{a.version}",
            a.kind,
            escape(a.summary),
            action,
        )
    console.print(table)


@app.command("runs")
def runs(model: str = typer.Argument(None, help="Only this model's runs.")) -> None:
    """Retraining runs started by alerts or by hand, and the candidate version each registered."""
    with _service() as (service, actor):
        service.refresh_runs(model)
        records = service.runs(actor, model)
    table = Table(
        "id", "model", "trigger", "backend", "status", "version", "started (UTC)", title="retraining"
    )
    for r in records:
        table.add_row(
            str(r.id),
            r.model,
            escape(r.trigger),
            r.backend,
            r.status,
            "-" if r.version is None else str(r.version),
            f"{r.started_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


@app.command("retrain")
def retrain(
    model: str = typer.Argument(..., help="The model to retrain."),
    reason: str = typer.Option(..., help="Why, for the audit trail."),
) -> None:
    """Start a retraining by hand (needs `monitoring.retrain`): the same pipeline an alert starts."""
    with _service() as (service, actor):
        run_record = service.retrain(actor, model, reason=reason)
    console.print(
        f"retraining run {run_record.id} of {model} started ({run_record.backend}: {run_record.external_id})"
    )


@app.command("retrain-run", hidden=True)
def retrain_run(run_id: int = typer.Argument(..., help="The retraining run to carry out.")) -> None:
    """Carry out a local retraining run: the training pipeline with kfp.local, then record how it ended."""
    from cxops.lifecycle.pipeline import run_pipeline

    settings = get_settings()
    with _service() as (service, _):
        record = service.run(run_id)
        parameters = service.pipeline_parameters(record)
        step(f"retraining run {run_id}: {record.model} ({record.trigger})")
        try:
            result = run_pipeline(
                record.model,
                settings,
                data_path=parameters["data_path"],
                rows=parameters["rows"],
                seed=parameters["seed"],
                trigger=record.pipeline_trigger,
            )
        except Exception as exc:
            service.finish_run(run_id, status="failed", detail=str(exc)[:2000])
            raise
        version = result["record"].version
        service.finish_run(
            run_id, status="succeeded", version=version, detail=f"registered {record.model}:{version}"
        )
    console.print(f"[green]registered[/] {record.model} version {version} (candidate)")


@app.command("report")
def report(
    model: str = typer.Argument(..., help="The model whose drift to report."),
    version: int = typer.Option(None, help="Version. Default: the one with the latest result."),
    out: Path = typer.Option(
        None, help="HTML file to write. Default: <home>/monitoring/reports/<model>.html."
    ),
) -> None:
    """Write an HTML drift report: each feature's reference and current distributions and its test."""
    from cxops.monitoring.client import DriftMonitorClient
    from cxops.monitoring.local import monitoring_dir
    from cxops.monitoring.report import write_drift_report

    settings = get_settings()
    with DriftMonitorClient(settings.monitor_url) as client:
        results = client.all_results(model=model, version=version)
    if not results:
        typer.echo(
            f"the drift monitor has no tested window of {model}"
            + (f":{version}" if version is not None else "")
            + "; send traffic through the gateway and run `cxops monitor run`",
            err=True,
        )
        raise typer.Exit(1)
    latest = results[-1]
    with _service() as (service, _):
        bundle = service.drift_reference(model, int(latest["version"]))
    out = out or monitoring_dir(settings) / "reports" / f"{model}.html"
    path = write_drift_report(latest, bundle, out, history=results)
    console.print(f"wrote {path}")


@app.command("workflows")
def workflows(
    out: Path = typer.Option(Path("pipelines/argo"), help="Folder for the rendered Argo YAML."),
) -> None:
    """Render the Argo Workflow that retrains a model and the CronWorkflow of scheduled checks (Hera)."""
    from cxops.monitoring.workflows import render_workflows

    for path in render_workflows(get_settings(), out):
        console.print(f"wrote {path}")
