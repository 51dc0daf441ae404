"""Score a file of raw rows (the training data's schema) with a registered model version.

The model's own `derive_features` and the version's `TabularClassifier` encode the rows exactly as in
training. Rows are read and scored in chunks so memory stays flat on large files, and the output is
written to a temporary file and renamed, so a failed run never leaves a half-written file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cxops.config import Settings
from cxops.data.loaders import coerce, write_table
from cxops.errors import InvalidInputError, NotFoundError
from cxops.modeling import TabularClassifier
from cxops.specs import load_model_code, load_spec

__all__ = ["ScoringSummary", "score_file"]

CHUNK_ROWS = 200_000


@dataclass(frozen=True)
class ScoringSummary:
    model: str
    version: int
    rows: int
    positives: int
    output: Path
    unparseable_values: int
    """Numeric cells that could not be parsed (scored as missing); a non-zero count deserves a look."""


def _chunks(path: Path) -> Iterator[pd.DataFrame]:
    suffix = path.suffix.lower()
    if not path.is_file():
        raise NotFoundError(f"input file {path} does not exist")
    if suffix == ".csv":
        yield from pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=CHUNK_ROWS)
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=CHUNK_ROWS):
            yield batch.to_pandas()
    else:
        raise InvalidInputError(
            f"input file {path}: unsupported format '{path.suffix}'; use .csv or .parquet"
        )


def score_file(
    model: str,
    input_path: Path,
    output_path: Path,
    settings: Settings,
    *,
    version: int | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> ScoringSummary:
    from cxops.registry import Registry

    spec = load_spec(model, settings)
    if output_path.suffix.lower() not in (".csv", ".parquet"):
        raise InvalidInputError(f"output file {output_path}: unsupported format; use .csv or .parquet")
    with Registry.from_settings(settings) as registry:
        record = registry.get_version(model, version)
    classifier = TabularClassifier.load(Path(record.artifacts["model"]))
    derive = load_model_code(model, settings).derive_features
    key = spec.data.entity_key
    score_col, label_col = f"{model}_{spec.serving.output_score}", f"{model}_{spec.serving.output_label}"

    parts: list[pd.DataFrame] = []
    rows = positives = unparseable = 0
    for chunk in _chunks(Path(input_path)):
        typed = coerce(chunk, spec, require_label=False)
        numeric = [c.name for c in spec.data.columns if c.type in ("integer", "number") and c.name in chunk]
        unparseable += int(
            sum((typed[c].isna() & chunk[c].astype(str).str.strip().ne("")).sum() for c in numeric)
        )
        proba = classifier.predict_proba(derive(typed))
        labels = classifier.labels(proba)
        parts.append(
            pd.DataFrame(
                {
                    key: typed[key].to_numpy(),
                    score_col: proba,
                    label_col: labels,
                    "model_version": record.version,
                }
            )
        )
        rows += len(chunk)
        positives += int((labels == classifier.positive_label).sum())
        progress(f"scored {rows:,} rows")
    if rows == 0:
        raise InvalidInputError(f"input file {input_path} has no rows to score")

    write_table(pd.concat(parts, ignore_index=True), output_path)
    return ScoringSummary(
        model=model,
        version=record.version,
        rows=rows,
        positives=positives,
        output=output_path,
        unparseable_values=unparseable,
    )
