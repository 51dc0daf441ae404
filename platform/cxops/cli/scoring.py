"""`cxops score`: batch scoring of a file of raw rows or of messages."""

from __future__ import annotations

from pathlib import Path

import typer

from cxops.cli._output import console, step
from cxops.config import get_settings


def score(
    model: str = typer.Argument(..., help="Model name: churn, intent or sentiment."),
    input: Path = typer.Option(
        ...,
        "--input",
        "-i",
        help="CSV or parquet file. churn: the raw subscriber schema (the training data's columns; the "
        "label may be absent). intent / sentiment: any columns with a 'text' column of messages.",
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write scores (.csv or .parquet)."),
    version: int = typer.Option(None, "--version", "-v", help="Registered version. Default: the latest."),
) -> None:
    """Score every row of a file.

    churn writes one score per customer id (the nightly push into the CRM). intent and sentiment pass
    every input column through and add <model>_label and <model>_probability (the label's
    confidence); blank messages are left unscored.

    Examples: [bold]cxops score churn -i customers.csv -o scores.parquet[/]
              [bold]cxops score intent -i tickets.csv -o tickets_with_intent.csv[/]
    """
    from cxops.scoring import score_file

    step(f"scoring {input} with {model} {'v' + str(version) if version else '(latest version)'}")
    summary = score_file(
        model, input, output, get_settings(), version=version, progress=lambda m: console.print(f"  {m}")
    )
    if summary.label_counts is not None:
        top = ", ".join(f"{label} {count:,}" for label, count in list(summary.label_counts.items())[:5])
        console.print(
            f"[green]wrote[/] {summary.rows:,} rows to {summary.output} ({model} v{summary.version}; "
            f"most frequent: {top})"
        )
        if summary.unscored:
            console.print(f"[yellow]warning:[/] {summary.unscored:,} blank messages were left unscored")
        return
    console.print(
        f"[green]wrote[/] {summary.rows:,} scores to {summary.output} "
        f"({model} v{summary.version}; {summary.positives:,} predicted positive)"
    )
    if summary.unparseable_values:
        console.print(
            f"[yellow]warning:[/] {summary.unparseable_values} numeric values could not be parsed "
            "and were scored as missing"
        )
