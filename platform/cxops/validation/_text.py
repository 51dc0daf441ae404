"""Derived columns that let Great Expectations check a text model's messages, and their profile.

GX checks columns, so what a message batch is judged on (its language, exact repeats, personal data,
length once stripped) is computed here into extra columns of the validated copy. Those columns hold codes,
flags and numbers, never text, and the profile holds counts and ratios only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cxops.privacy.text_pii import PiiKind, find_pii
from cxops.specs import ModelSpec
from cxops.text.language import detect_languages
from cxops.validation.report import TextProfile

__all__ = [
    "DUPLICATE_COLUMN",
    "HAS_PII_COLUMN",
    "LANGUAGE_COLUMN",
    "LANGUAGE_SOURCE",
    "add_text_columns",
    "stripped_length_column",
]

LANGUAGE_COLUMN = "__language__"
"""The row's language: its `language` value when it has one, else the detected one (None if unknown)."""
DUPLICATE_COLUMN = "__duplicate__"
"""1.0 where the message repeats an earlier one exactly, 0.0 otherwise, NaN without a message."""
HAS_PII_COLUMN = "__has_pii__"
"""1.0 where the message carries personal data, 0.0 otherwise, NaN without a message."""
LANGUAGE_SOURCE = "language"
"""Raw column that, when the spec has it, says which language a message is in (channels often know)."""

_PERCENTILES = {"min": 0.0, "p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95, "max": 1.0}


def stripped_length_column(column: str) -> str:
    """Characters left in a text column's value once whitespace is stripped (`__text_stripped_length__`)."""
    return f"__{column}_stripped_length__"


def _stripped_lengths(values: pd.Series) -> pd.Series:
    return values.map(lambda v: float(len(v.strip())) if isinstance(v, str) else np.nan).astype(float)


def add_text_columns(
    batch: pd.DataFrame, spec: ModelSpec, label_set: tuple[str, list[str]] | None
) -> TextProfile | None:
    """Add the derived columns to `batch` (the copy GX validates) in place; return the text profile.

    Every `text` column gets its stripped length; the model's text column (`spec.text.column`) also gets
    language, duplicate and personal-data flags. Without that column only empty derived columns are added
    (its absence is reported by the "column present" check) and there is no profile.
    """
    for col in spec.data.columns:
        if col.type == "text":
            values = batch[col.name] if col.name in batch.columns else pd.Series(np.nan, index=batch.index)
            batch[stripped_length_column(col.name)] = _stripped_lengths(values)
    text = spec.text
    if text is None:
        return None
    if text.column not in batch.columns:
        batch[LANGUAGE_COLUMN] = pd.Series(None, index=batch.index, dtype=object)
        batch[DUPLICATE_COLUMN] = batch[HAS_PII_COLUMN] = np.nan
        return None

    values = batch[text.column]
    is_text = values.map(lambda v: isinstance(v, str)).astype(bool)
    messages = values.where(is_text)

    given = batch[LANGUAGE_SOURCE] if LANGUAGE_SOURCE in batch.columns else pd.Series(None, index=batch.index)
    given = given.where(given.map(lambda v: isinstance(v, str) and v.strip() != ""), None)
    detected = detect_languages(messages.where(given.isna()))
    language = given.astype(object).where(given.notna(), detected)
    batch[LANGUAGE_COLUMN] = language.where(language.notna(), None).astype(object)

    duplicate = messages.duplicated(keep="first") & is_text
    batch[DUPLICATE_COLUMN] = duplicate.astype(float).where(is_text)

    kinds = _pii_kinds(messages)
    batch[HAS_PII_COLUMN] = kinds.map(bool).astype(float).where(is_text)

    return _profile(
        batch, spec, is_text=is_text, given=given, detected=detected, kinds=kinds, label_set=label_set
    )


def _pii_kinds(messages: pd.Series) -> pd.Series:
    """The set of PII kinds in each message (empty for none or no message); each distinct text is scanned
    once."""
    seen: dict[str, frozenset[str]] = {}
    out: list[frozenset[str]] = []
    for value in messages.tolist():
        if not isinstance(value, str):
            out.append(frozenset())
            continue
        kinds = seen.get(value)
        if kinds is None:
            kinds = seen[value] = frozenset(match.kind.value for match in find_pii(value))
        out.append(kinds)
    return pd.Series(out, index=messages.index, dtype=object)


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _profile(
    batch: pd.DataFrame,
    spec: ModelSpec,
    *,
    is_text: pd.Series,
    given: pd.Series,
    detected: pd.Series,
    kinds: pd.Series,
    label_set: tuple[str, list[str]] | None,
) -> TextProfile:
    assert spec.text is not None
    column = spec.text.column
    messages = int(is_text.sum())
    texts = batch.loc[is_text, column]

    language = batch.loc[is_text, LANGUAGE_COLUMN]
    counts: dict[str, int] = {str(k): int(v) for k, v in language.value_counts().items()}
    unknown = messages - sum(counts.values())
    if unknown:
        counts["unknown"] = unknown
    known = messages - unknown
    expected = sum(n for code, n in counts.items() if code in spec.text.languages)
    from_column = int((given.notna() & is_text).sum())
    from_detection = int((given.isna() & detected.notna() & is_text).sum())

    lengths = texts.str.len().astype(float)
    percentiles = {key: float(lengths.quantile(q)) for key, q in _PERCENTILES.items()} if messages else {}
    stripped = batch.loc[is_text, stripped_length_column(column)]

    duplicates = int(batch[DUPLICATE_COLUMN].sum())
    message_kinds = kinds[is_text]
    pii_messages = int(message_kinds.map(bool).sum())
    by_kind = {kind.value: 0 for kind in PiiKind}
    for found in message_kinds:
        for kind in found:
            by_kind[kind] += 1

    extra: dict[str, Any] = {}
    if label_set is not None:
        extra = {"label_set": label_set[0], "label_set_size": len(label_set[1])}
    return TextProfile(
        column=column,
        rows=len(batch),
        messages=messages,
        languages=counts,
        language_sources={
            "column": from_column,
            "detected": from_detection,
            "unknown": messages - from_column - from_detection,
        },
        expected_languages=list(spec.text.languages),
        in_language_share=expected / known if known else None,
        length_percentiles=percentiles,
        blank=int((stripped == 0).sum()),
        duplicates=duplicates,
        duplicate_share=_share(duplicates, messages),
        pii_messages=pii_messages,
        pii_share=_share(pii_messages, messages),
        pii_by_kind=by_kind,
        **extra,
    )
