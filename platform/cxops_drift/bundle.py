"""Load a drift reference bundle: `monitor.json` (the settings) and the reference sample it names.

Reference rows that break the bundle's own schema (e.g. a blank in a non-nullable column of the training
data) are dropped and counted, so that the reference matches what the quality checks let through; a
reference where more than `quality.max_invalid_fraction` of the rows break it is refused.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cxops_drift.errors import InvalidError, NotFoundError
from cxops_drift.quality import check_row, check_text
from cxops_drift.spec import MonitorSpec, parse_spec

__all__ = ["BUNDLE_FILE", "MIN_REFERENCE_ROWS", "Bundle", "load_bundle"]

BUNDLE_FILE = "monitor.json"
MIN_REFERENCE_ROWS = 10


@dataclass(frozen=True)
class Bundle:
    """A parsed bundle: its settings, where it lies and the reference rows (dicts) or texts that passed."""

    spec: MonitorSpec
    directory: Path
    reference: list[Any]
    dropped: int = 0
    dropped_examples: list[str] = field(default_factory=list)


def _cell(text: str) -> Any:
    """A CSV cell as a request would carry it: empty is null, numbers are numbers, the rest strings."""
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return text


def _read_reference(spec: MonitorSpec, path: Path) -> tuple[list[Any], int, list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [c for c in spec.columns if c not in header]
        if missing:
            raise InvalidError(
                f"drift bundle of model '{spec.model}': {path} lacks the columns {missing} "
                f"(it has {header}); rewrite the bundle with the platform"
            )
        raw_rows = list(reader)
    kept: list[Any] = []
    examples: list[str] = []
    numeric = {f.name for f in spec.features if f.numeric}
    for line, raw in enumerate(raw_rows, start=2):
        if spec.kind == "text":
            text = raw.get(spec.text_field or "")
            problem = check_text(text or None)
            if problem is None:
                kept.append(text)
            elif len(examples) < 3:
                examples.append(f"line {line}: text {problem}")
            continue
        row = {n: (_cell(v) if n in numeric else (v if v != "" else None)) for n, v in raw.items()}
        checked = check_row(spec, row)
        if checked.valid:
            kept.append(checked.values)
        elif len(examples) < 3:
            listed = ", ".join(f"{n} {p} ({row.get(n)!r})" for n, p in checked.problems.items())
            examples.append(f"line {line}: {listed}")
    return kept, len(raw_rows), examples


def load_bundle(directory: str | Path) -> Bundle:
    """Read and check the bundle in `directory`.

    Raises NotFoundError (404) when the directory or a file is missing, InvalidError (400) when a file
    cannot be used; every message says which bundle and what to do.
    """
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise NotFoundError(
            f"drift bundle {directory} not found: no such directory; pass the absolute path of a model "
            "version's drift bundle (the directory holding monitor.json and reference.csv)"
        )
    directory = directory.resolve()
    settings_path = directory / BUNDLE_FILE
    if not settings_path.is_file():
        raise NotFoundError(
            f"drift bundle {directory} has no {BUNDLE_FILE}; rewrite the bundle with the platform"
        )
    try:
        data = json.loads(settings_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidError(
            f"{settings_path} is not valid JSON ({error}); rewrite the bundle with the platform"
        ) from error
    spec = parse_spec(data, where=str(settings_path))
    reference_path = directory / spec.reference
    if not reference_path.is_file():
        raise NotFoundError(
            f"drift bundle of model '{spec.model}' names the reference {spec.reference!r}, which is not in "
            f"{directory}; rewrite the bundle with the platform"
        )
    try:
        reference, rows, examples = _read_reference(spec, reference_path)
    except (UnicodeDecodeError, csv.Error) as error:
        raise InvalidError(f"{reference_path} is not a readable CSV file ({error})") from error
    if rows != spec.reference_rows:
        raise InvalidError(
            f"drift bundle of model '{spec.model}': {BUNDLE_FILE} says reference_rows {spec.reference_rows} "
            f"but {reference_path.name} holds {rows} rows; the bundle is incomplete: rewrite it"
        )
    dropped = rows - len(reference)
    if dropped / rows > spec.quality.max_invalid_fraction or len(reference) < MIN_REFERENCE_ROWS:
        raise InvalidError(
            f"drift bundle of model '{spec.model}': {dropped} of {rows} reference rows break the bundle's "
            f"own schema (limit: max_invalid_fraction {spec.quality.max_invalid_fraction}, and at least "
            f"{MIN_REFERENCE_ROWS} valid rows), e.g. {'; '.join(examples)}; fix the features in monitor.json "
            "or the reference sample"
        )
    return Bundle(
        spec=spec, directory=directory, reference=reference, dropped=dropped, dropped_examples=examples
    )
