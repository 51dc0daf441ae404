"""The training function on the in-process backend (no Ray), and scaling decisions (no cluster)."""

import logging

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from cxops.config import Settings
from cxops.data.generators import telco_subscribers
from cxops.data.loaders import coerce
from cxops.errors import InvalidInputError
from cxops.modeling import TabularClassifier
from cxops.specs import ScalingSpec, load_model_code, load_spec
from cxops.training import labels_to_binary, resolve_scaling, split_train_validation, train


@pytest.fixture(scope="module")
def spec():
    return load_spec("churn")


@pytest.fixture(scope="module")
def frame(spec):
    raw = coerce(telco_subscribers(900, seed=11), spec)
    return load_model_code("churn").derive_features(raw)


@pytest.fixture(scope="module")
def trained(spec, frame, tmp_path_factory):
    settings = Settings(home=tmp_path_factory.mktemp("home"))
    return train(spec, frame.iloc[:700], settings, backend="local", progress=lambda _m: None)


def test_local_training_learns_and_reports_what_it_did(trained, spec, frame):
    result = trained
    assert isinstance(result.classifier, TabularClassifier)
    assert result.ray.backend == "local" and result.ray.num_workers == 0 and result.ray.device == "cpu"
    assert 0.0 < result.threshold < 1.0
    assert result.classifier.threshold == result.threshold
    assert 0 <= result.best_iteration < spec.trainer.num_boost_round
    # The booster was cut back to its best iteration by early stopping.
    assert result.booster.num_boosted_rounds() == result.best_iteration + 1
    assert result.rows["train"] + result.rows["validation"] == 700
    # The spec's own choice wins over the default class weighting.
    assert result.params["scale_pos_weight"] == spec.trainer.params["scale_pos_weight"] == 1.0
    held_out = frame.iloc[700:]
    y = labels_to_binary(held_out[spec.data.label], spec)
    auc = roc_auc_score(y, result.classifier.predict_proba(held_out))
    assert auc > 0.7
    summary = result.to_dict()
    assert summary["threshold_metric"] == spec.trainer.threshold_metric
    assert set(summary["durations"]) >= {"fit", "threshold", "total"}


def test_local_training_is_deterministic(trained, spec, frame, tmp_path):
    again = train(spec, frame.iloc[:700], Settings(home=tmp_path), backend="local", progress=lambda _m: None)
    assert again.threshold == trained.threshold
    np.testing.assert_array_equal(
        again.classifier.predict_proba(frame), trained.classifier.predict_proba(frame)
    )


def test_split_is_stratified_disjoint_and_seeded(spec, frame):
    y = labels_to_binary(frame[spec.data.label], spec)
    train_idx, valid_idx = split_train_validation(frame, y, 0.2, seed=5)
    assert set(train_idx).isdisjoint(valid_idx) and len(train_idx) + len(valid_idx) == len(frame)
    assert len(valid_idx) == pytest.approx(0.2 * len(frame), abs=1)
    assert y[valid_idx].mean() == pytest.approx(y.mean(), abs=0.01)
    again, _ = split_train_validation(frame, y, 0.2, seed=5)
    np.testing.assert_array_equal(train_idx, again)


def test_labels_outside_the_spec_are_rejected(spec, frame, tmp_path):
    bad = frame.iloc[:50].copy()
    bad.loc[bad.index[0], spec.data.label] = "Maybe"
    with pytest.raises(InvalidInputError, match="Maybe"):
        labels_to_binary(bad[spec.data.label], spec)
    with pytest.raises(InvalidInputError, match="lacks columns"):
        train(spec, frame.drop(columns=["tenure"]), Settings(home=tmp_path), backend="local")
    with pytest.raises(InvalidInputError, match="backend"):
        train(spec, frame, Settings(home=tmp_path), backend="spark")  # type: ignore[arg-type]


def test_gpu_request_falls_back_to_cpu_without_gpus(caplog):
    with caplog.at_level(logging.WARNING, logger="cxops.training.ray_runtime"):
        scaling = resolve_scaling(
            ScalingSpec(num_workers=2, use_gpu=True, cpus_per_worker=1), gpus_available=0, cpus_available=4
        )
    assert scaling.use_gpu is False
    assert scaling.num_workers == 2
    assert scaling.resources_per_worker == {"CPU": 1.0}
    assert "no GPUs" in caplog.text


def test_gpu_workers_are_trimmed_to_the_gpus_there_are():
    scaling = resolve_scaling(
        ScalingSpec(num_workers=4, use_gpu=True, cpus_per_worker=1), gpus_available=2, cpus_available=16
    )
    assert scaling.use_gpu is True and scaling.num_workers == 2
    assert scaling.resources_per_worker == {"CPU": 1.0, "GPU": 1.0}


def test_cpu_workers_are_trimmed_to_the_cpus_there_are():
    scaling = resolve_scaling(
        ScalingSpec(num_workers=4, cpus_per_worker=1), gpus_available=0, cpus_available=2
    )
    assert scaling.num_workers == 2
    big = resolve_scaling(ScalingSpec(num_workers=1, cpus_per_worker=8), gpus_available=0, cpus_available=2)
    assert big.num_workers == 1 and big.resources_per_worker == {"CPU": 2.0}


def test_without_a_choice_in_the_spec_the_minority_class_is_weighted(spec):
    from cxops.training.trainer import _config

    params = {k: v for k, v in spec.trainer.params.items() if k != "scale_pos_weight"}
    unweighted = spec.model_copy(update={"trainer": spec.trainer.model_copy(update={"params": params})})
    y = np.array([1] * 25 + [0] * 75)
    assert _config(unweighted, y)["params"]["scale_pos_weight"] == pytest.approx(3.0)
    assert _config(spec, y)["params"]["scale_pos_weight"] == 1.0
