"""Score a file with a registered model version: raw subscriber rows, or messages in a text column.

Tabular models: the model's own `derive_features` and the version's classifier encode the rows exactly
as in training; the output holds the entity key, score, label and version. Text models: every input
column is passed through and the label and its probability are added; blank messages are left
unscored. Rows are read and scored in chunks so memory stays flat on large files, and the output is
written to a temporary file and renamed, so a failed run never leaves a half-written file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cxops.config import Settings
from cxops.data.loaders import coerce, write_table
from cxops.errors import InvalidInputError, NotFoundError
from cxops.modeling import TextClassifier, load_classifier
from cxops.specs import ModelSpec, load_model_code, load_spec

__all__ = ["ScoringSummary", "score_file"]

CHUNK_ROWS = 200_000
TEXT_CHUNK_ROWS = 2_000
"""Messages are embedded chunk by chunk: small chunks give steady progress on long files."""


@dataclass(frozen=True)
class ScoringSummary:
    model: str
    version: int
    rows: int
    positives: int
    output: Path
    unparseable_values: int
    """Numeric cells that could not be parsed (scored as missing); a non-zero count deserves a look."""
    label_counts: dict[str, int] | None = None
    """Rows per predicted label (text models)."""
    unscored: int = 0
    """Blank messages, left without a label (text models)."""


def _chunks(path: Path, rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    suffix = path.suffix.lower()
    if not path.is_file():
        raise NotFoundError(f"input file {path} does not exist")
    if suffix == ".csv":
        yield from pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=rows)
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
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
    classifier = load_classifier(Path(record.artifacts["model"]))
    if isinstance(classifier, TextClassifier):
        return _score_messages(spec, classifier, record.version, Path(input_path), output_path, progress)
    # Served models score one request per thread; a batch has the machine to itself.
    classifier.booster.set_param({"nthread": os.cpu_count() or 1})
    derive = load_model_code(model, settings).derive_features
    key = spec.data.entity_key
    score_col, label_col = f"{model}_{spec.serving.output_score}", f"{model}_{spec.serving.output_label}"

    parts: list[pd.DataFrame] = []
    rows = positives = unparseable = 0
    for chunk in _chunks(Path(input_path)):
        typed = coerce(chunk, spec, require_label=False)
        numeric = [c.name for c in spec.data.columns if c.type in ("integer", "number") and c.name in chunk]
        # Only cells that came out missing need a look at their text (blank, or not a number).
        unparseable += int(
            sum(chunk.loc[typed[c].isna(), c].astype(str).str.strip().ne("").sum() for c in numeric)
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


def _score_messages(
    spec: ModelSpec,
    classifier: TextClassifier,
    version: int,
    input_path: Path,
    output_path: Path,
    progress: Callable[[str], None],
) -> ScoringSummary:
    column = classifier.text_column
    score_col = f"{spec.name}_{spec.serving.output_score}"
    label_col = f"{spec.name}_{spec.serving.output_label}"
    parts: list[pd.DataFrame] = []
    counts: dict[str, int] = {}
    rows = unscored = 0
    for chunk in _chunks(input_path, TEXT_CHUNK_ROWS):
        if column not in chunk.columns:
            raise InvalidInputError(
                f"input file {input_path} has no '{column}' column; model '{spec.name}' scores the "
                f"messages in it (other columns are passed through); found {list(chunk.columns)[:20]}"
            )
        clashes = [c for c in (score_col, label_col, "model_version") if c in chunk.columns]
        if clashes:
            raise InvalidInputError(
                f"input file {input_path} already has output columns {clashes}; rename them"
            )
        text = chunk[column].astype(object).where(chunk[column].notna(), "").astype(str)
        present = text.str.strip().ne("").to_numpy()
        out = chunk.copy()
        out[score_col] = float("nan")
        out[label_col] = None
        if present.any():
            proba = classifier.predict_texts(text[present].tolist())
            labels = classifier.labels(proba)
            out.loc[present, score_col] = proba.max(axis=1)
            out.loc[present, label_col] = labels
            for label in labels:
                counts[str(label)] = counts.get(str(label), 0) + 1
        out["model_version"] = version
        parts.append(out)
        rows += len(chunk)
        unscored += int((~present).sum())
        progress(f"scored {rows:,} messages")
    if rows == 0:
        raise InvalidInputError(f"input file {input_path} has no rows to score")
    write_table(pd.concat(parts, ignore_index=True), output_path)
    return ScoringSummary(
        model=spec.name,
        version=version,
        rows=rows,
        positives=0,
        output=output_path,
        unparseable_values=0,
        label_counts=dict(sorted(counts.items(), key=lambda kv: -kv[1])),
        unscored=unscored,
    )
