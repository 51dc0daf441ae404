"""`cxops score`: batch scoring of a file of raw rows."""

from __future__ import annotations

from pathlib import Path

import typer

from cxops.cli._output import console, step
from cxops.config import get_settings


def score(
    model: str = typer.Argument(..., help="Model name (e.g. churn)."),
    input: Path = typer.Option(
        ...,
        "--input",
        "-i",
        help="CSV or parquet file in the model's raw schema "
        "(the training data's columns; the label column may be absent).",
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write scores (.csv or .parquet)."),
    version: int = typer.Option(None, "--version", "-v", help="Registered version. Default: the latest."),
) -> None:
    """Score every row of a file, keyed by the row's customer id (the nightly push into the CRM).

    Example: [bold]cxops score churn -i customers.csv -o scores.parquet[/]
    """
    from cxops.scoring import score_file

    step(f"scoring {input} with {model} {'v' + str(version) if version else '(latest version)'}")
    summary = score_file(
        model, input, output, get_settings(), version=version, progress=lambda m: console.print(f"  {m}")
    )
    console.print(
        f"[green]wrote[/] {summary.rows:,} scores to {summary.output} "
        f"({model} v{summary.version}; {summary.positives:,} predicted positive)"
    )
    if summary.unparseable_values:
        console.print(
            f"[yellow]warning:[/] {summary.unparseable_values} numeric values could not be parsed "
            "and were scored as missing"
        )
