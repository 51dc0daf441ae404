"""Training on Ray Train (GPU workers when the cluster has them) or in-process: XGBoost for tabular
models, LambdaMART for ranking models, a head over sentence embeddings (or a fine-tuned encoder, on
GPUs) for text models.

Ray is imported only when a Ray backend is used, so importing this package stays cheap.
"""

from cxops.training.ranker import RankingResult, train_ranker
from cxops.training.ray_runtime import RayRuntime, ensure_ray, resolve_scaling, shutdown_ray
from cxops.training.text_trainer import TextTrainingResult, train_text
from cxops.training.threshold import choose_threshold, fbeta_at
from cxops.training.trainer import (
    Backend,
    RayUsage,
    TrainingResult,
    labels_to_binary,
    split_train_validation,
    train,
)

__all__ = [
    "Backend",
    "RayRuntime",
    "RankingResult",
    "RayUsage",
    "TextTrainingResult",
    "TrainingResult",
    "choose_threshold",
    "ensure_ray",
    "fbeta_at",
    "labels_to_binary",
    "resolve_scaling",
    "shutdown_ray",
    "split_train_validation",
    "train",
    "train_ranker",
    "train_text",
]
