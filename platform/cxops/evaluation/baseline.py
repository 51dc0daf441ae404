"""The classical baseline a text model must beat: TF-IDF n-grams and a logistic regression.

Word 1-2 grams catch the topic words, character 2-5 grams (inside word boundaries) catch typos,
inflections and French/English variants. Fitted on the same PII-masked texts the model sees, so the
comparison is like for like and no personal data reaches its vocabulary.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from cxops.errors import InvalidInputError

__all__ = ["BASELINE_NAME", "tfidf_baseline"]

BASELINE_NAME = "TF-IDF baseline"
"""How reports and model cards name it (word 1-2 + char 2-5 gram TF-IDF, logistic regression C=10)."""


def _texts(values: Sequence[Any] | pd.Series, mask_pii: bool) -> list[str]:
    as_text = pd.Series(
        ["" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in values],
        dtype=object,
        name="text",
    )
    if mask_pii:
        from cxops.privacy.text_pii import mask_series

        as_text = mask_series(as_text)
    return as_text.tolist()


def tfidf_baseline(
    train_texts: Sequence[Any] | pd.Series,
    train_labels: Sequence[Any] | pd.Series | np.ndarray,
    test_texts: Sequence[Any] | pd.Series,
    *,
    classes: Sequence[Any] | None = None,
    mask_pii: bool = True,
) -> np.ndarray:
    """Fit on (`train_texts`, `train_labels`) and return class probabilities for `test_texts`.

    Columns follow `classes` when given (a class with no training row gets a column of zeros), else the
    sorted distinct training labels. Texts are PII-masked first unless `mask_pii` is False.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, make_pipeline

    labels = np.asarray(train_labels)
    if len(labels) != len(train_texts):
        raise InvalidInputError(
            f"TF-IDF baseline: {len(train_texts)} training texts but {len(labels)} labels; pass one label "
            "per text"
        )
    present = np.unique(labels)
    if len(present) < 2:
        raise InvalidInputError(
            f"TF-IDF baseline: the training rows hold {len(present)} class(es); it needs at least two"
        )
    test = _texts(test_texts, mask_pii)
    if classes is not None:
        unknown = sorted(set(present.tolist()) - set(classes))
        if unknown:
            raise InvalidInputError(f"TF-IDF baseline: training labels {unknown[:5]} are not in `classes`")
    if not test:
        return np.zeros((0, len(classes) if classes is not None else len(present)))

    features = FeatureUnion(
        [
            ("words", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=1)),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=1)),
        ]
    )
    model = make_pipeline(features, LogisticRegression(C=10.0, max_iter=2000))
    model.fit(_texts(train_texts, mask_pii), labels)
    fitted = model.predict_proba(test)
    if classes is None:
        return fitted
    order = {c: i for i, c in enumerate(model.classes_.tolist())}
    out = np.zeros((len(test), len(classes)))
    for j, name in enumerate(classes):
        if name in order:
            out[:, j] = fitted[:, order[name]]
    return out
