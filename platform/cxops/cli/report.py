"""`cxops report MODEL --version V`: the compliance report of a model version, as one HTML file."""

from __future__ import annotations

from pathlib import Path

import typer

from cxops.cli._output import console
from cxops.config import get_settings

__all__ = ["report"]


def report(
    model: str = typer.Argument(..., help="Model name."),
    version: int = typer.Option(..., "--version", "-v", help="Version number."),
    out: Path = typer.Option(
        None, "--out", "-o", help="Directory to write into. Default: <CXOPS_HOME>/reports."
    ),
) -> None:
    """Write the compliance report of a version for an auditor and print its path: model card summary,
    metrics against thresholds, bias gaps, gates at each promotion, approvals, DPIA, lineage, audit excerpt.

    One self-contained HTML file: it can be archived and opened offline.
    Example: cxops report churn --version 7
    """
    from cxops.governance.report import write_compliance_report
    from cxops.governance.service import Governance

    settings = get_settings()
    with Governance.from_settings(settings) as gov:
        path = write_compliance_report(
            gov, gov.actor(settings.actor), model, version, out or settings.subdir("reports")
        )
    console.print(str(path), soft_wrap=True, markup=False)
