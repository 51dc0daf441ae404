"""Text training: the frozen-encoder head learns the generated intents; the fine-tuning path runs."""

import numpy as np
import pandas as pd
import pytest

from cxops.config import Settings
from cxops.data.messages import INTENTS, support_messages
from cxops.errors import InvalidInputError
from cxops.modeling import load_classifier
from cxops.specs import load_spec
from cxops.training import train_text
from cxops.training._text_fit import fit_fine_tuned
from cxops.training.text_trainer import classes_of


@pytest.fixture(scope="module")
def messages():
    return support_messages(n=500, seed=11)


def test_frozen_encoder_head_learns_intents_in_process(messages, tmp_path):
    spec = load_spec("intent")
    settings = Settings(home=tmp_path / "home")
    result = train_text(spec, messages, settings, backend="local", progress=lambda _: None)
    assert result.mode == "frozen_encoder" and result.ray.backend == "local"
    assert result.classifier.classes == [c for c in INTENTS if c in set(messages["intent"])]
    assert result.validation["accuracy"] > 0.6  # 12 classes: chance is ~0.08
    assert result.rows["train"] + result.rows["validation"] == len(messages)
    result.save(tmp_path / "model")
    loaded = load_classifier(tmp_path / "model")
    sample = messages.head(20)
    assert (loaded.labels(loaded.predict_proba(sample)) == sample["intent"]).mean() > 0.6
    assert result.to_dict()["classes"] == loaded.classes


def test_classes_follow_the_spec_order_and_unknown_labels_are_refused():
    spec = load_spec("sentiment")
    assert classes_of(pd.Series(["positive", "negative", "neutral"]), spec) == [
        "negative",
        "neutral",
        "positive",
    ]
    with pytest.raises(InvalidInputError, match="furious"):
        classes_of(pd.Series(["negative", "furious"]), spec)
    with pytest.raises(InvalidInputError, match="missing"):
        classes_of(pd.Series(["negative", None, "positive"]), spec)
    intent = load_spec("intent")
    assert classes_of(pd.Series(["card_arrival", "top_up_failed"]), intent) == [
        "card_arrival",
        "top_up_failed",
    ]


def test_too_little_data_is_refused(messages, tmp_path):
    settings = Settings(home=tmp_path / "home")
    with pytest.raises(InvalidInputError, match="too few"):
        train_text(load_spec("intent"), messages.head(5), settings, backend="local")
    with pytest.raises(InvalidInputError, match="lacks columns"):
        train_text(load_spec("intent"), messages.drop(columns="text"), settings, backend="local")


def test_fine_tuning_updates_the_encoder_and_saves_it(messages, tmp_path):
    """The GPU path's code, run on CPU the saved encoder is no longer the packaged one."""
    from cxops.text.embeddings import SentenceEncoder

    sample = messages.head(40)
    y = sample["intent"].map({c: i for i, c in enumerate(INTENTS)}).to_numpy()
    config = {"params": {"hidden_units": 0, "learning_rate": 0.003}, "num_classes": len(INTENTS), "seed": 1}
    head, info = fit_fine_tuned(
        sample["text"].tolist()[:32],
        y[:32],
        sample["text"].tolist()[32:],
        y[32:],
        config,
        str(tmp_path / "encoder"),
        device="cpu",
        epochs=1,
    )
    assert info["mode"] == "fine_tuned_encoder" and info["train_rows"] == 32
    tuned = SentenceEncoder(device="cpu", path=tmp_path / "encoder").encode(["my router is broken"])
    packaged = SentenceEncoder(device="cpu").encode(["my router is broken"])
    assert tuned.shape == packaged.shape == (1, 384)
    assert not np.allclose(tuned, packaged, atol=1e-4)
