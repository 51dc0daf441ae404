"""Training on a real local Ray cluster (one start per test session): learns, saves, falls back to CPU."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from cxops.config import Settings
from cxops.data.generators import telco_subscribers
from cxops.data.loaders import coerce
from cxops.modeling import TabularClassifier
from cxops.specs import ScalingSpec, load_model_code, load_spec
from cxops.training import ensure_ray, labels_to_binary, shutdown_ray, train

# Every pipeline test trains on Ray too; this module checks Ray against the local backend (`make test-full`).
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.full]


@pytest.fixture(scope="session")
def ray_settings(tmp_path_factory):
    settings = Settings(home=tmp_path_factory.mktemp("cxops-ray"), ray_num_cpus=2)
    ensure_ray(settings)
    yield settings
    shutdown_ray()


@pytest.fixture(scope="module")
def data():
    spec = load_spec("churn")
    frame = load_model_code("churn").derive_features(coerce(telco_subscribers(800, seed=5), spec))
    return spec, frame.iloc[:600], frame.iloc[600:]


@pytest.fixture(scope="module")
def gpu_spec(data):
    spec, _, _ = data
    scaling = ScalingSpec(num_workers=1, use_gpu=True, cpus_per_worker=1)
    return spec.model_copy(update={"trainer": spec.trainer.model_copy(update={"scaling": scaling})})


@pytest.fixture(scope="module")
def ray_result(ray_settings, gpu_spec, data):
    _, train_rows, _ = data
    messages: list[str] = []
    result = train(gpu_spec, train_rows, ray_settings, backend="ray", progress=messages.append)
    return result, messages


def test_ray_training_learns_and_falls_back_to_cpu(ray_result, data):
    spec, _, held_out = data
    result, messages = ray_result
    assert result.ray.backend == "ray"
    assert result.ray.use_gpu_requested is True
    assert result.ray.use_gpu is False  # no GPU here: CPU workers instead of waiting forever
    assert result.ray.device == "cpu"
    assert result.ray.num_workers == 1 and result.ray.resources_per_worker == {"CPU": 1.0}
    assert result.ray.cluster["resources"]["CPU"] == 2.0
    assert any("CPU worker" in m for m in messages)
    y = labels_to_binary(held_out[spec.data.label], spec)
    auc = roc_auc_score(y, result.classifier.predict_proba(held_out))
    assert auc > 0.7, auc
    assert result.durations["fit"] > 0 and result.durations["total"] >= result.durations["fit"]


def test_classifier_saves_and_loads_with_identical_predictions(ray_result, data, tmp_path):
    _, _, held_out = data
    classifier = ray_result[0].classifier
    loaded = TabularClassifier.load(classifier.save(tmp_path / "model"))
    assert loaded.threshold == classifier.threshold
    assert loaded.feature_names == classifier.feature_names
    np.testing.assert_array_equal(loaded.predict_proba(held_out), classifier.predict_proba(held_out))
    np.testing.assert_array_equal(
        loaded.labels(loaded.predict_proba(held_out)), classifier.labels(classifier.predict_proba(held_out))
    )


def test_local_backend_gives_the_same_model_as_one_ray_worker(ray_result, gpu_spec, data, tmp_path):
    _, train_rows, held_out = data
    local = train(gpu_spec, train_rows, Settings(home=tmp_path), backend="local", progress=lambda _m: None)
    result = ray_result[0]
    assert local.best_iteration == result.best_iteration
    assert local.threshold == pytest.approx(result.threshold)
    np.testing.assert_allclose(
        local.classifier.predict_proba(held_out), result.classifier.predict_proba(held_out), rtol=0, atol=1e-6
    )
