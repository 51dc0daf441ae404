"""The served-model directory: a trained classifier packed with the spec it was trained under.

    classifier/    the trained classifier (`TabularClassifier` or `TextClassifier` artifact)
    spec.yaml      the model spec, as validated when the model was packaged
    serving.json   model name and registry version
    offers.yaml    the offer policy a recommendation model was packaged with (recommendation models only)

It is the content of the BentoML model (`save_bento_model`), so a bento always serves a model with the
schema it was trained on, whatever the checkout's spec says later.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from cxops.errors import ConflictError, NotFoundError
from cxops.modeling import Classifier, load_classifier
from cxops.specs import ModelSpec

__all__ = ["ServedModel", "read_served_model", "read_served_policy", "read_served_spec", "write_served_model"]

_CLASSIFIER_DIR = "classifier"
_SPEC_FILE = "spec.yaml"
_INFO_FILE = "serving.json"
_POLICY_FILE = "offers.yaml"


@dataclass(frozen=True)
class ServedModel:
    spec: ModelSpec
    classifier: Classifier
    registry_version: str


def write_served_model(
    directory: Path,
    spec: ModelSpec,
    classifier_dir: Path,
    registry_version: int | str,
    *,
    policy_path: Path | None = None,
) -> Path:
    """Copy a trained classifier (checked by loading it) and its spec into `directory`."""
    directory = Path(directory)
    classifier = load_classifier(classifier_dir)  # fails early, naming the directory, if incomplete
    if classifier.model_name != spec.name:
        raise ConflictError(f"{classifier_dir} holds a model of '{classifier.model_name}', not '{spec.name}'")
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copytree(classifier_dir, directory / _CLASSIFIER_DIR, dirs_exist_ok=True)
    if spec.recommendation is not None and policy_path is not None:
        # The rules are served as they were when the model was evaluated: a policy change is a new package.
        shutil.copyfile(policy_path, directory / _POLICY_FILE)
    (directory / _SPEC_FILE).write_text(yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))
    (directory / _INFO_FILE).write_text(
        json.dumps({"model_name": spec.name, "registry_version": str(registry_version)}, indent=2)
    )
    return directory


def _check(directory: Path) -> Path:
    directory = Path(directory)
    if not (directory / _SPEC_FILE).is_file() or not (directory / _INFO_FILE).is_file():
        raise NotFoundError(
            f"{directory} is not a served-model directory (expected {_SPEC_FILE}, "
            f"{_INFO_FILE} and {_CLASSIFIER_DIR}/); package the model with save_bento_model"
        )
    return directory


def read_served_spec(directory: Path) -> ModelSpec:
    """The spec alone (cheap: no booster is loaded), e.g. to build request schemas at import time."""
    return ModelSpec.model_validate(yaml.safe_load((_check(directory) / _SPEC_FILE).read_text()))


def read_served_model(directory: Path) -> ServedModel:
    directory = _check(directory)
    spec = read_served_spec(directory)
    info = json.loads((directory / _INFO_FILE).read_text())
    classifier = load_classifier(directory / _CLASSIFIER_DIR)
    return ServedModel(spec=spec, classifier=classifier, registry_version=str(info["registry_version"]))


def read_served_policy(directory: Path) -> Path:
    """The offer policy file packed with a recommendation model."""
    path = _check(directory) / _POLICY_FILE
    if not path.is_file():
        raise NotFoundError(f"{directory} holds no offer policy ({_POLICY_FILE}); package the model again")
    return path
