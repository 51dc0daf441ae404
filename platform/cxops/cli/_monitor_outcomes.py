"""`cxops monitor outcomes` and `cxops monitor performance`: late outcomes in, realised performance out, on
the local metadata store as CXOPS_ACTOR (recording needs `outcomes.record`, reading `models.read`)."""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from cxops.cli._governance import governance
from cxops.cli._output import console
from cxops.monitoring.errors import MonitoringInvalidError

__all__ = ["outcomes", "performance"]

_COLUMNS = ("prediction_id", "outcome", "row", "observed_at")
_REQUIRED = ("prediction_id", "outcome")
_AGO = re.compile(r"^\s*(\d+)\s*([hdw])\s*$")
_SHOWN = 10
"""Unknown ids and rows printed before the rest are only counted."""


def _read_outcomes(path: Path) -> list[Any]:
    from cxops.monitoring.outcomes import OutcomeIn

    if not path.is_file():
        raise MonitoringInvalidError(f"outcome file {path} does not exist; pass a CSV file")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = [name.strip() for name in reader.fieldnames or []]
        missing = [c for c in _REQUIRED if c not in header]
        extra = [c for c in header if c not in _COLUMNS]
        if missing or extra:
            raise MonitoringInvalidError(
                f"outcome file {path} has columns {header}: "
                + (f"missing {missing}; " if missing else "")
                + (f"unknown {extra}; " if extra else "")
                + f"use {', '.join(_REQUIRED)} and optionally row, observed_at"
            )
        items = []
        for line, raw in enumerate(reader, start=2):
            values = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
            fields: dict[str, Any] = {"prediction_id": values["prediction_id"], "outcome": values["outcome"]}
            if values.get("row"):
                fields["row"] = values["row"]
            if values.get("observed_at"):
                fields["observed_at"] = values["observed_at"]
            try:
                items.append(OutcomeIn.model_validate(fields))
            except ValidationError as exc:
                problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                raise MonitoringInvalidError(
                    f"outcome file {path}, line {line}: {problems}; nothing was recorded"
                ) from None
    return items


def _since(text: str | None) -> datetime | None:
    """`7d`, `12h`, `2w` (ago), or an ISO date or instant (naive means UTC)."""
    if text is None:
        return None
    match = _AGO.match(text)
    if match:
        unit = {"h": "hours", "d": "days", "w": "weeks"}[match.group(2)]
        return datetime.now(UTC) - timedelta(**{unit: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a time; write 7d, 12h or 2w (ago), or a date such as 2026-12-01"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def outcomes(
    model: str = typer.Argument(..., help="Model name, e.g. churn."),
    file: Path = typer.Argument(
        ...,
        help="CSV with a header: prediction_id,outcome and optionally row,observed_at.",
        dir_okay=False,
    ),
) -> None:
    """Record late outcomes (true labels) of logged predictions, from a CSV file.

    prediction_id is the request id the gateway returned in `x-request-id`; outcome is the true label as
    the model names it (churn: Yes / No); row picks a row of a batch request (default 0); observed_at is
    when the outcome became known (ISO 8601, default now). An outcome that is not a label of the model
    refuses the whole file; predictions recorded before keep their first outcome.

    Example (as a user with outcomes.record, e.g. CXOPS_ACTOR=crm-feedback), with churned.csv:

        prediction_id,outcome,observed_at
        5b0f3c9e2d4a4f6b8e1a7c3d9f2e6a10,Yes,2026-12-05

        cxops monitor outcomes churn churned.csv
    """
    from cxops.monitoring.outcomes import OutcomeService

    items = _read_outcomes(file)
    with governance() as (gov, actor):
        receipt = OutcomeService(gov).record(actor, model, items)
    console.print(
        f"[bold]{model}[/]: recorded {receipt.recorded} outcome(s) of {len(items)}; "
        f"{receipt.duplicates} duplicate(s) kept their first outcome"
    )
    if receipt.unknown:
        shown = ", ".join(escape(i) for i in receipt.unknown[:_SHOWN])
        more = f" and {len(receipt.unknown) - _SHOWN} more" if len(receipt.unknown) > _SHOWN else ""
        console.print(
            f"[yellow]{len(receipt.unknown)} prediction id(s) not in the request log of {model}:[/] "
            f"{shown}{more} (check the ids and the model; failed calls have no prediction)"
        )
    if receipt.rows_out_of_range:
        shown = ", ".join(
            f"{escape(r.prediction_id)} row {r.row}" for r in receipt.rows_out_of_range[:_SHOWN]
        )
        count = len(receipt.rows_out_of_range)
        more = f" and {count - _SHOWN} more" if count > _SHOWN else ""
        console.print(f"[yellow]{count} row(s) beyond their prediction's rows:[/] {shown}{more}")


def _number(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def performance(
    model: str = typer.Argument(..., help="Model name, e.g. churn."),
    version: int | None = typer.Option(None, "--version", "-v", help="Only this version. Default: all."),
    since: str | None = typer.Option(
        None, "--since", help="Only predictions made since: 7d, 12h, 2w (ago) or a date (2026-12-01)."
    ),
    bucket: str = typer.Option("day", "--bucket", help="Period of each row: day, week (ISO) or all."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
) -> None:
    """Realised performance per version and period, from the outcomes recorded so far.

    Accuracy for every model; for binary models also the Brier score (lower is better), ROC AUC (when
    both outcomes occur) and the share of positive predictions beside the share of positive outcomes.
    Periods are those of prediction time, so a late outcome counts where its prediction was made.

    Example: cxops monitor performance churn --since 30d --bucket week
    """
    from cxops.monitoring.outcomes import BUCKETS, OutcomeService

    if bucket not in BUCKETS:
        raise typer.BadParameter(f"{bucket!r} is not a period; use one of: {', '.join(BUCKETS)}")
    start = _since(since)
    with governance() as (gov, actor):
        rows = OutcomeService(gov).realised(actor, model, version=version, since=start, bucket=bucket)
    if as_json:
        console.print_json(json.dumps([r.model_dump(mode="json") for r in rows]))
        return
    if not rows:
        console.print(
            f"no outcomes recorded for {model}"
            + (f" v{version}" if version is not None else "")
            + (f" since {start:%Y-%m-%d %H:%M} UTC" if start else "")
            + f" (record them with `cxops monitor outcomes {model} FILE.csv`)"
        )
        return
    table = Table(
        "version", "period", "n", "accuracy", "Brier", "ROC AUC", "predicted +", "observed +",
        title=f"realised performance of {model}",
    )  # fmt: skip
    for r in rows:
        table.add_row(
            f"v{r.version}",
            r.period,
            str(r.n),
            _number(r.accuracy),
            _number(r.brier),
            _number(r.roc_auc),
            _number(r.predicted_positive_rate),
            _number(r.observed_positive_rate),
        )
    console.print(table)
