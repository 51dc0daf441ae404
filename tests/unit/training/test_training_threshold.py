import numpy as np
import pytest

from cxops.errors import InvalidInputError
from cxops.training import choose_threshold, fbeta_at


def test_perfectly_separated_scores_put_the_cut_between_the_classes():
    y = np.array([0, 0, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.7, 0.9])
    threshold, score = choose_threshold(y, p, "f1")
    assert 0.3 < threshold <= 0.7
    assert threshold == pytest.approx(0.5)
    assert score == pytest.approx(1.0)
    assert fbeta_at(y, p, threshold) == pytest.approx(1.0)


def test_f1_choice_matches_brute_force_over_every_cut():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.clip(0.35 * y + rng.normal(0.3, 0.2, 300), 0, 1)
    threshold, score = choose_threshold(y, p, "f1")
    brute = max(fbeta_at(y, p, t) for t in np.unique(p))
    assert score == pytest.approx(brute)
    assert fbeta_at(y, p, threshold) == pytest.approx(score)


def test_f2_weighs_recall_so_it_never_cuts_higher_than_f1():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 500)
    p = np.clip(0.3 * y + rng.normal(0.3, 0.25, 500), 0, 1)
    t1, _ = choose_threshold(y, p, "f1")
    t2, f2 = choose_threshold(y, p, "f2")
    assert t2 <= t1
    assert np.mean(p[y == 1] >= t2) >= np.mean(p[y == 1] >= t1)
    assert fbeta_at(y, p, t2, beta=2.0) == pytest.approx(f2)


def test_known_small_case():
    y = np.array([1, 0, 1, 0, 0, 1])
    p = np.array([0.9, 0.8, 0.7, 0.4, 0.3, 0.2])
    threshold, score = choose_threshold(y, p, "f1")
    # top1: P=1,R=1/3,F1=.5; top2: .5,.333,.4; top3: .667,.667,.667; top6: .5,1,.667 -> tie, higher cut wins
    assert score == pytest.approx(2 / 3)
    assert 0.4 < threshold <= 0.7


def test_ties_in_scores_are_called_together():
    y = np.array([1, 0, 1, 0])
    p = np.array([0.6, 0.6, 0.6, 0.1])
    threshold, _ = choose_threshold(y, p, "f1")
    called = p >= threshold
    assert called[:3].all() or not called[:3].any()


def test_rejects_validation_without_positives_and_unknown_metrics():
    with pytest.raises(InvalidInputError, match="positive"):
        choose_threshold(np.zeros(5), np.linspace(0, 1, 5), "f1")
    with pytest.raises(InvalidInputError, match="threshold metric"):
        choose_threshold(np.array([0, 1]), np.array([0.2, 0.8]), "accuracy")
    with pytest.raises(InvalidInputError):
        choose_threshold(np.array([0, 1]), np.array([0.2, 0.8, 0.5]), "f1")
