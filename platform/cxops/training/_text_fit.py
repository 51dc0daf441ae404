"""The one text-training function, run by every Ray Train worker or in-process by the local backend.

Frozen encoder (CPU, or GPU without `fine_tune_encoder`): embed the messages once, then train the head
on the embeddings. Fine-tuning (GPU workers only, by default): the encoder and the head are trained
together for a few epochs, the encoder with a much smaller learning rate so it adapts without
forgetting what makes its embeddings general.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from cxops.modeling.text import HeadConfig, build_head

__all__ = ["LABEL", "TEXT", "fit_frozen", "fit_fine_tuned", "train_loop_per_worker"]

TEXT = "__text__"
LABEL = "__label__"

_FINE_TUNE_EPOCHS = 3
_FINE_TUNE_BATCH = 32
_ENCODER_LR = 2e-5


def _accuracy_f1(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import f1_score

    return {
        "accuracy": float((y == pred).mean()) if len(y) else float("nan"),
        "macro_f1": float(f1_score(y, pred, average="macro", zero_division=0)) if len(y) else float("nan"),
    }


def _fit_head(
    x_train: np.ndarray,
    y_train: np.ndarray,
    config: HeadConfig,
    num_classes: int,
    *,
    seed: int,
    device: str = "cpu",
    wrap: Any = None,
) -> Any:
    """AdamW with a one-cycle learning rate over mini-batches; returns the head in eval mode on CPU."""
    import torch

    torch.manual_seed(seed)
    head = build_head(config, num_classes).to(device)
    model = wrap(head) if wrap else head
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    steps_per_epoch = max(1, -(-len(x_train) // config.batch_size))
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=config.learning_rate, total_steps=config.epochs * steps_per_epoch
    )
    x = torch.as_tensor(x_train, dtype=torch.float32, device=device)
    y = torch.as_tensor(y_train, dtype=torch.long, device=device)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(config.epochs):
        order = torch.randperm(len(x), generator=generator).to(device)
        for start in range(0, len(x), config.batch_size):
            batch = order[start : start + config.batch_size]
            optimiser.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
            loss.backward()
            optimiser.step()
            schedule.step()
    head.eval()
    return head.cpu()


def _predict(head: Any, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return head(torch.as_tensor(x, dtype=torch.float32)).argmax(dim=1).numpy()


def fit_frozen(
    train_texts: list[str],
    y_train: np.ndarray,
    valid_texts: list[str],
    y_valid: np.ndarray,
    config: dict[str, Any],
    *,
    device: str = "cpu",
    wrap: Any = None,
) -> tuple[Any, dict[str, Any]]:
    """Embed with the frozen encoder, train the head; returns (head, info)."""
    from cxops.text.embeddings import SentenceEncoder

    started = time.perf_counter()
    encoder = SentenceEncoder(device=device)
    x_train, x_valid = encoder.encode(train_texts), encoder.encode(valid_texts)
    embedded = time.perf_counter()
    head_config = HeadConfig.from_params(config["params"], input_dim=encoder.dimension)
    head = _fit_head(
        x_train, y_train, head_config, config["num_classes"], seed=config["seed"], device=device, wrap=wrap
    )
    info = {
        "mode": "frozen_encoder",
        "device": device,
        "embedding_seconds": embedded - started,
        "fit_seconds": time.perf_counter() - embedded,
        "train_rows": len(train_texts),
        "validation_rows": len(valid_texts),
        **{f"validation_{k}": v for k, v in _accuracy_f1(y_valid, _predict(head, x_valid)).items()},
    }
    return head, info


def fit_fine_tuned(
    train_texts: list[str],
    y_train: np.ndarray,
    valid_texts: list[str],
    y_valid: np.ndarray,
    config: dict[str, Any],
    encoder_out: str,
    *,
    device: str,
    epochs: int = _FINE_TUNE_EPOCHS,
) -> tuple[Any, dict[str, Any]]:
    """Train encoder and head end to end (mean-pooled, normalised embeddings, as at inference);
    the tuned encoder is saved to `encoder_out`."""
    import torch

    from cxops.text.embeddings import SentenceEncoder

    started = time.perf_counter()
    torch.manual_seed(config["seed"])
    encoder = SentenceEncoder(device=device)
    transformer = encoder._model
    head_config = HeadConfig.from_params(config["params"], input_dim=encoder.dimension)
    head = build_head(head_config, config["num_classes"]).to(device)
    optimiser = torch.optim.AdamW(
        [
            {"params": transformer.parameters(), "lr": _ENCODER_LR},
            {"params": head.parameters(), "lr": head_config.learning_rate},
        ],
        weight_decay=head_config.weight_decay,
    )
    labels = torch.as_tensor(y_train, dtype=torch.long)
    generator = torch.Generator().manual_seed(config["seed"])

    def embed(texts: list[str]) -> torch.Tensor:
        inputs = transformer.preprocess(texts).items()
        features = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in inputs}
        vectors = transformer(features)["sentence_embedding"]
        return torch.nn.functional.normalize(vectors, dim=1)

    for _ in range(epochs):
        transformer.train()
        head.train()
        order = torch.randperm(len(train_texts), generator=generator)
        for start in range(0, len(order), _FINE_TUNE_BATCH):
            batch = order[start : start + _FINE_TUNE_BATCH]
            optimiser.zero_grad()
            logits = head(embed([train_texts[int(i)] for i in batch]))
            loss = torch.nn.functional.cross_entropy(logits, labels[batch].to(device))
            loss.backward()
            optimiser.step()
    transformer.eval()
    head.eval()
    transformer.save(encoder_out)
    with torch.inference_mode():
        x_valid = encoder.encode(valid_texts)
    head = head.cpu()
    info = {
        "mode": "fine_tuned_encoder",
        "device": device,
        "fine_tune_epochs": epochs,
        "fit_seconds": time.perf_counter() - started,
        "train_rows": len(train_texts),
        "validation_rows": len(valid_texts),
        **{f"validation_{k}": v for k, v in _accuracy_f1(y_valid, _predict(head, x_valid)).items()},
    }
    return head, info


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """Ray Train worker: this worker's shard of messages -> a trained head (and encoder), reported once."""
    import tempfile
    from pathlib import Path

    import ray
    import ray.train
    import torch

    train = ray.train.get_dataset_shard("train").materialize().to_pandas()
    valid = ray.train.get_dataset_shard("validation").materialize().to_pandas()
    device = "cuda" if ray.get_gpu_ids() else "cpu"
    torch.set_num_threads(max(1, int(config.get("cpus_per_worker", 1))))
    args = (
        train[TEXT].tolist(),
        train[LABEL].to_numpy(),
        valid[TEXT].tolist(),
        valid[LABEL].to_numpy(),
        config,
    )
    rank = ray.train.get_context().get_world_rank()
    with tempfile.TemporaryDirectory() as tmp:
        if config["fine_tune_encoder"] and device == "cuda":
            head, info = fit_fine_tuned(*args, str(Path(tmp, "encoder")), device=device)
        else:
            import ray.train.torch

            wrap = ray.train.torch.prepare_model if ray.train.get_context().get_world_size() > 1 else None
            head, info = fit_frozen(*args, device=device, wrap=wrap)
        info["worker_rank"] = rank
        if rank == 0:
            torch.save(head.state_dict(), Path(tmp, "head.pt"))
            ray.train.report(info, checkpoint=ray.train.Checkpoint.from_directory(tmp))
        else:
            ray.train.report(info)
