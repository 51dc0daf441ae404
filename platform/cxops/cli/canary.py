"""`cxops canary ...` and `cxops rollback`: canary releases for SREs (needs `deployments.manage`)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from cxops.cli._governance import governance, print_gates
from cxops.cli._output import console, err_console

app = typer.Typer(
    help="Canary releases: send a share of a model's traffic to a candidate version in staging, move it in "
    "steps, promote it to production or roll it back.\n\n"
    "Example: cxops canary start churn --version 8 --steps 5,25,50,100 --interval 10m; "
    'cxops canary set churn 25; cxops canary promote churn --reason "steps passed".',
    no_args_is_help=True,
)

_DURATION = re.compile(r"^\s*(\d+)\s*([smh]?)\s*$")


def _seconds(text: str) -> int:
    match = _DURATION.match(text)
    if not match:
        raise typer.BadParameter(f"{text!r} is not a duration; write 90s, 10m or 1h")
    return int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def _steps(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a list of percentages; write 5,25,50,100") from None


@contextmanager
def _canaries() -> Iterator[tuple[Any, Any]]:
    from cxops.canary.service import CanaryService

    with governance() as (gov, actor):
        yield CanaryService(gov), actor


def _show(record: Any) -> None:
    shown = "shadow copies of" if record.mode == "shadow" else "live traffic"
    console.print(
        f"[bold]{record.model}[/] canary {record.deployment_id}: v{record.candidate_version} gets "
        f"{record.percent:g}% of {shown} (stable v{record.stable_version}), {record.status}"
        + (
            f", automated, steps {', '.join(f'{s:g}' for s in record.steps)} every {record.interval_s}s"
            if record.auto
            else ""
        )
    )


@app.command("start")
def start(
    model: str = typer.Argument(..., help="Model name."),
    version: int = typer.Option(..., "--version", "-v", help="Candidate version (in staging)."),
    steps: str = typer.Option("5,25,50,100", "--steps", help="Traffic shares of the steps, in %."),
    interval: str = typer.Option("10m", "--interval", help="How long each step lasts: 90s, 10m, 1h."),
    auto: bool = typer.Option(False, "--auto", help="Let the analysis move, promote or roll back by itself."),
) -> None:
    """Start a canary of a staging version against the production version."""
    with _canaries() as (canaries, actor):
        record = canaries.start(
            actor, model, version, steps=_steps(steps), interval_s=_seconds(interval), auto=auto
        )
    _show(record)


@app.command("shadow")
def shadow(
    model: str = typer.Argument(..., help="Model name."),
    version: int = typer.Option(..., "--version", "-v", help="Candidate version (in staging)."),
    sample: float = typer.Option(10.0, "--sample", help="Share of requests copied to the candidate, in %."),
) -> None:
    """Mirror a share of requests to a candidate: answers are compared, users only see the stable answer."""
    with _canaries() as (canaries, actor):
        record = canaries.start(actor, model, version, shadow=True, shadow_percent=sample)
    _show(record)


@app.command("set")
def set_percent(
    model: str = typer.Argument(..., help="Model name."),
    percent: float = typer.Argument(..., help="The candidate's share of traffic, 0–100."),
    reason: str = typer.Option("", "--reason", help="Why (kept in the audit log)."),
) -> None:
    """Set the candidate's share of traffic by hand."""
    with _canaries() as (canaries, actor):
        record = canaries.set_percent(actor, model, percent, reason=reason)
    _show(record)


@app.command("status")
def status(
    model: str = typer.Argument(None, help="Model name. Default: every model with a canary in progress."),
    as_json: bool = typer.Option(False, "--json", help="Print the canaries as JSON."),
) -> None:
    """Canaries in progress: candidate, stable, share, step, and the last analysis."""
    with _canaries() as (canaries, actor):
        records = canaries.status(actor, model)
        observed = {r.model: canaries.traffic.observed(r.model) for r in records}
    if as_json:
        console.print_json(json.dumps([r.to_dict() for r in records], default=str))
        return
    if not records:
        console.print("no canary in progress" + (f" for {model}" if model else ""))
        return
    for record in records:
        _show(record)
        if observed[record.model]:
            console.print(f"  {escape(observed[record.model])}")
        if record.evidence:
            last = record.evidence[-1]
            console.print(
                f"  last analysis: {last.get('verdict', '?')} — {escape(str(last.get('explanation', '')))}"
            )


@app.command("promote")
def promote(
    model: str = typer.Argument(..., help="Model name."),
    reason: str = typer.Option(..., "--reason", help="Why (kept in the history and the audit log)."),
) -> None:
    """Finish the canary: the candidate goes to production through every production gate and takes all
    traffic."""
    from cxops.governance.errors import GateFailedError

    with _canaries() as (canaries, actor):
        try:
            record, transition = canaries.promote(actor, model, reason=reason)
        except GateFailedError as refused:
            print_gates(refused.gates, f"{model}: canary promotion refused")
            err_console.print(
                "[bold red]refused:[/] the canary goes on; fix the failing gates or roll it back"
            )
            raise typer.Exit(1) from None
    print_gates(transition.gates, f"{model}:{record.candidate_version} → production")
    _show(record)


def _number(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else escape(str(value))


def show_report(record: Any, plot: Path) -> None:
    """A canary's analysis as a table, window by window and check by check, and its plot at `plot`."""
    from cxops.canary.plot import plot_canary

    _show(record)
    table = Table(
        "window",
        "share",
        "check",
        "stable",
        "candidate",
        "statistic",
        "p-value",
        "limit",
        "verdict",
        title="analysis",
    )
    for number, analysis in enumerate(record.evidence, start=1):
        if not analysis.get("checks"):  # an idle window, or a rollback on the gateway's health check
            table.add_row(
                str(number),
                _number(analysis.get("percent")),
                escape(str(analysis.get("explanation", ""))),
                *["-"] * 5,
                analysis.get("verdict", ""),
            )
        for check in analysis.get("checks", []):
            table.add_row(
                str(number),
                _number(analysis.get("percent")),
                check.get("name", ""),
                _number(check.get("stable")),
                _number(check.get("candidate")),
                _number(check.get("statistic")),
                _number(check.get("p_value")),
                _number(check.get("limit")),
                check.get("verdict", ""),
            )
    console.print(table)
    if record.outcome:
        console.print(f"outcome: {escape(record.outcome)}")
    console.print(f"plot: {plot_canary(record, plot)}")


@app.command("report")
def report(
    model: str = typer.Argument(..., help="Model name."),
    plot: str = typer.Option(
        None, "--plot", help="Where to write the plot (PNG). Default: <home>/reports/<canary id>.png."
    ),
) -> None:
    """The analysis of the model's latest canary, window by window: each check, both sides, the verdict;
    and a plot of the checks across the steps."""
    with _canaries() as (canaries, actor):
        history = canaries.history(actor, model)
        reports = canaries.gov.settings.subdir("reports")
    if not history:
        console.print(f"model {model} has had no canary")
        return
    record = history[-1]
    show_report(record, Path(plot) if plot else reports / f"{record.deployment_id}.png")


def rollback(
    model: str = typer.Argument(..., help="Model name."),
    reason: str = typer.Option(..., "--reason", help="Why (kept with the canary and in the audit log)."),
    to_version: int = typer.Option(
        None,
        "--to-version",
        help="Also put this former production version back in production, with all the traffic "
        "(no gates: it passed them when first promoted).",
    ),
) -> None:
    """Roll a canary back: every request goes to the stable version again; production is untouched.

    With --to-version, production itself is rolled back to an earlier version (the canary in progress,
    if any, ends first). Example: cxops rollback churn --to-version 6 --reason "complaints since v7"."""
    with _canaries() as (canaries, actor):
        if to_version is None:
            _show(canaries.rollback(actor, model, reason=reason))
            return
        ended, transition = canaries.roll_back_to(actor, model, to_version, reason=reason)
    if ended is not None:
        _show(ended)
    if transition is not None:
        console.print(
            f"[bold]{model}:{transition.version}[/] {transition.from_stage} → [bold]production[/] "
            f"(rollback by {transition.actor}); it now takes all of {model}'s traffic"
        )


@app.command("gateway")
def gateway(
    models: list[str] = typer.Option(["churn"], "--model", "-m", help="Model(s) to front (repeatable)."),
    port: int = typer.Option(
        8800, "--port", help="The gateway's port (clients call it instead of the model)."
    ),
    ttl: float = typer.Option(1.0, "--refresh", help="Seconds between reads of the canary records."),
    policy: str = typer.Option(
        None, "--policy", help="Analysis limits of --auto canaries. Default: policies/canary.yaml."
    ),
) -> None:
    """Run the local canary gateway: model servers for the production and candidate versions, the split the
    canary records ask for (sticky per customer; objecting customers stay on stable), and the automated
    analysis of `--auto` canaries. Stops on Ctrl-C.

    Requests and answers are logged as CloudEvents (personal data masked) under <home>/logs/<model>/, with
    Prometheus metrics at /metrics."""
    import threading
    import time

    from cxops.canary.consent import ProfilingOptOut
    from cxops.canary.controller import CanaryController
    from cxops.canary.gateway import create_gateway
    from cxops.canary.local import bento_launcher, local_routes
    from cxops.canary.policy import load_analysis_policy
    from cxops.cli._output import step
    from cxops.features.client import FeatureStoreClient
    from cxops.serving.thread_server import ThreadServer
    from cxops.telemetry import configure_telemetry

    with _canaries() as (canaries, _actor):
        settings = canaries.gov.settings
        step(f"starting the production servers of {', '.join(models)}")
        opt_out = ProfilingOptOut(FeatureStoreClient(settings))
        launch = bento_launcher(canaries, settings, announce=lambda line: console.print(f"  {line}"))
        with local_routes(canaries, models, launch, ttl_s=ttl) as routes:
            configure_telemetry(settings, "cxops-gateway")
            app = create_gateway(routes, settings, opt_out=opt_out)
            limits = load_analysis_policy(
                Path(policy) if policy else settings.root / "policies" / "canary.yaml"
            )
            controller = CanaryController(canaries, limits)
            stop = threading.Event()

            def analyse() -> None:
                while not stop.wait(1.0):
                    try:
                        decisions = controller.tick_all(models)
                    except Exception as error:  # keep analysing: the next window may read fine
                        err_console.print(f"[red]canary analysis failed:[/] {escape(str(error))}")
                        continue
                    for decision in decisions:
                        console.print(
                            f"  {decision.model}: {decision.action} at {decision.percent:g}% — "
                            f"{escape(decision.explanation)}"
                        )

            with ThreadServer(app, port=port) as server:
                console.print(
                    f"gateway ready at {server.url} (status at {server.url}/gateway/status; Ctrl-C to stop)"
                )
                threading.Thread(target=analyse, name="canary-analysis", daemon=True).start()
                try:
                    while True:
                        time.sleep(1)
                except KeyboardInterrupt:
                    console.print("stopping")
                finally:
                    stop.set()
