"""The text classifier artifact: saved and loaded whole, personal data masked before embedding."""

import numpy as np
import pandas as pd
import pytest

from cxops.errors import InvalidInputError, NotFoundError
from cxops.modeling import TextClassifier, load_classifier
from cxops.modeling.text import HeadConfig, build_head, prepare_texts
from cxops.specs import load_spec

CLASSES = ["negative", "neutral", "positive"]


@pytest.fixture
def classifier():
    import torch

    torch.manual_seed(0)
    config = HeadConfig(hidden_units=8, dropout=0.0)
    head = build_head(config, len(CLASSES)).eval()
    return TextClassifier.from_spec(load_spec("sentiment"), CLASSES, head, config, metadata={"note": "x"})


def test_probabilities_have_one_column_per_class_and_sum_to_one(classifier):
    frame = pd.DataFrame({"text": ["thanks, all fixed!", "my internet is down again", "when is my bill due"]})
    proba = classifier.predict_proba(frame)
    assert proba.shape == (3, 3)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert list(classifier.labels(proba)) == [CLASSES[i] for i in proba.argmax(axis=1)]
    assert classifier.predict_proba(frame.head(0)).shape == (0, 3)


def test_save_and_load_give_the_same_predictions(classifier, tmp_path):
    classifier.save(tmp_path / "model")
    loaded = load_classifier(tmp_path / "model")
    assert isinstance(loaded, TextClassifier)
    assert loaded.classes == CLASSES and loaded.metadata == {"note": "x"}
    assert loaded.inputs[0].name == "text" and loaded.inputs[0].max_length == 5000
    texts = ["the app keeps crashing", "merci pour votre aide"]
    assert np.allclose(loaded.predict_texts(texts), classifier.predict_texts(texts))


def test_personal_data_is_masked_before_the_encoder_sees_it(classifier):
    text = "Call me on +33 6 12 34 56 78 or mail jane.doe@example.com"
    masked = prepare_texts([text], mask_pii=True)[0]
    assert "jane.doe@example.com" not in masked and "12 34 56 78" not in masked
    # Two messages that differ only in their personal data get the same scores.
    other = "Call me on +33 6 98 76 54 32 or mail john.roe@example.org"
    proba = classifier.predict_texts([text, other])
    assert np.allclose(proba[0], proba[1])
    assert prepare_texts([None, float("nan")], mask_pii=False) == ["", ""]


def test_a_frame_without_the_text_column_is_refused(classifier):
    with pytest.raises(InvalidInputError, match="reads column 'text'"):
        classifier.predict_proba(pd.DataFrame({"message": ["hello"]}))


def test_unknown_head_settings_are_named():
    with pytest.raises(InvalidInputError, match="hidden_size"):
        HeadConfig.from_params({"hidden_size": 10})


def test_load_classifier_names_what_is_missing(tmp_path):
    with pytest.raises(NotFoundError, match="no trained model"):
        load_classifier(tmp_path)
    (tmp_path / "model.json").write_text('{"kind": "text_classifier"}')
    with pytest.raises(NotFoundError, match="no trained text model"):
        load_classifier(tmp_path)
