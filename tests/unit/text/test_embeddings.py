import numpy as np
import pytest

from cxops.text import get_encoder


@pytest.fixture(scope="module")
def encoder():
    return get_encoder()


def test_embeddings_are_unit_vectors_of_the_model_dimension(encoder):
    vectors = encoder.encode(["my bill is wrong this month", "le réseau ne marche plus depuis hier"])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert encoder.encode([]).shape == (0, 384)


def test_paraphrases_are_closer_than_other_topics(encoder):
    bill, bill_again, outage = encoder.encode(
        [
            "why was I charged twice on my invoice",
            "I was billed two times this month",
            "no network signal at all",
        ]
    )
    assert float(bill @ bill_again) > float(bill @ outage) + 0.2


def test_one_encoder_per_process_and_deterministic_output(encoder):
    assert get_encoder() is encoder
    first, second = encoder.encode(["reset my password"]), encoder.encode(["reset my password"])
    np.testing.assert_allclose(first, second, atol=1e-6)
    import torch

    assert encoder.device == ("cuda" if torch.cuda.is_available() else "cpu")
