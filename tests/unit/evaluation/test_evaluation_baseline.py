"""The TF-IDF baseline: a strong classical model on masked texts, with columns in the caller's class order."""

import numpy as np
import pytest

from cxops.data.messages import support_messages
from cxops.errors import InvalidInputError
from cxops.evaluation.baseline import tfidf_baseline


@pytest.fixture(scope="module")
def messages():
    return support_messages(n=700, seed=17)


def test_learns_the_generated_intents(messages):
    train, test = messages.iloc[:500], messages.iloc[500:]
    proba = tfidf_baseline(train["text"], train["intent"], test["text"])
    classes = sorted(set(train["intent"]))
    assert proba.shape == (200, len(classes))
    assert np.allclose(proba.sum(axis=1), 1.0)
    accuracy = (np.asarray(classes)[proba.argmax(axis=1)] == test["intent"].to_numpy()).mean()
    assert accuracy > 0.8  # 12 intents: chance is ~0.08


def test_columns_follow_the_given_classes(messages):
    train = messages.iloc[:300]
    train = train[train["sentiment"] != "neutral"]
    texts = ["thank you so much, that fixed it", "this is the third outage this week, unacceptable"]
    proba = tfidf_baseline(
        train["text"], train["sentiment"], texts, classes=["positive", "neutral", "negative"]
    )
    assert proba.shape == (2, 3)
    assert (proba[:, 1] == 0).all()  # no neutral training row: a column of zeros
    assert np.allclose(proba.sum(axis=1), 1.0)
    default = tfidf_baseline(train["text"], train["sentiment"], texts)  # sorted: negative, positive
    assert np.allclose(proba[:, [2, 0]], default)
    with pytest.raises(InvalidInputError, match="not in `classes`"):
        tfidf_baseline(train["text"], train["sentiment"], texts, classes=["positive", "neutral"])


def test_integer_labels_give_columns_in_label_order(messages):
    train = messages.iloc[:150]
    codes = train["sentiment"].map({"negative": 0, "neutral": 1, "positive": 2}).to_numpy()
    proba = tfidf_baseline(train["text"].tolist(), codes, ["all good, thanks"])
    assert proba.shape == (1, 3)


def test_personal_data_is_masked_before_fitting_and_scoring(messages):
    train = messages.iloc[:200]
    a = "my card 4111 1111 1111 1111 was charged twice, write to anna.k@example.com"
    b = "my card 5500 0000 0000 0004 was charged twice, write to bob.m@example.org"
    masked = tfidf_baseline(train["text"], train["intent"], [a, b])
    assert np.allclose(masked[0], masked[1])
    unmasked = tfidf_baseline(train["text"], train["intent"], [a, b], mask_pii=False)
    assert not np.allclose(unmasked[0], unmasked[1])


def test_bad_training_data_is_refused(messages):
    with pytest.raises(InvalidInputError, match="one label per text"):
        tfidf_baseline(["a", "b"], ["x"], ["c"])
    with pytest.raises(InvalidInputError, match="at least two"):
        tfidf_baseline(["a", "b"], ["x", "x"], ["c"])
    assert tfidf_baseline(["a b", "c d"], ["x", "y"], []).shape == (0, 2)
