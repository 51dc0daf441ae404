"""What a serving process needs at start-up: which model to serve, and its predictor.

`serving/service.py` is one BentoML service for every model spec. The model it serves is chosen when
the bento is built and recorded twice in the bento: as bento arguments (which `bentoml serve <bento>`
restores in every worker) and as environment variables (which the generated Dockerfile sets, so the
KServe image needs no arguments). Arguments win over the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cxops.config import Settings
from cxops.errors import CXOpsError
from cxops.serving.artifact import read_served_model
from cxops.serving.feature_source import OnlineFeatureSource, feast_feature_source
from cxops.serving.predictor import ModelPredictor, keyed_pseudonymiser

__all__ = [
    "MODEL_ENV",
    "MODEL_TAG_ENV",
    "ServingTarget",
    "bento_model_name",
    "load_predictor",
    "load_recommender",
    "resolve_target",
]

MODEL_ENV = "CXOPS_SERVING_MODEL"
MODEL_TAG_ENV = "CXOPS_MODEL_TAG"


@dataclass(frozen=True)
class ServingTarget:
    model: str
    """The model spec's name, e.g. 'churn'."""
    model_tag: str
    """The BentoML model tag holding the served-model directory, e.g. 'cxops-churn:abc123'."""


def bento_model_name(model: str) -> str:
    return f"cxops-{model}"


def resolve_target(arguments: dict[str, str] | None = None) -> ServingTarget:
    """The target from bento arguments `model` / `model_tag` (default: BentoML's), else the environment."""
    if arguments is None:
        import bentoml

        arguments = vars(bentoml.use_arguments())
    model = arguments.get("model") or os.environ.get(MODEL_ENV)
    tag = arguments.get("model_tag") or os.environ.get(MODEL_TAG_ENV)
    if not model and tag:
        name = tag.split(":", 1)[0]
        model = name.removeprefix("cxops-")
    if not model:
        raise CXOpsError(
            f"no model to serve: build the bento with cxops.serving.packaging.build_bento, or pass "
            f"`--arg model=<name> [--arg model_tag=<bentoml tag>]`, or set {MODEL_ENV} / {MODEL_TAG_ENV}"
        )
    return ServingTarget(model=model, model_tag=tag or f"{bento_model_name(model)}:latest")


def load_predictor(
    model_dir: Path, settings: Settings, *, features: OnlineFeatureSource | None = None
) -> ModelPredictor:
    """The predictor of a served-model directory; customer lookups use Feast unless `features` is given.

    The Feast client is built in the background once the server starts (a server that only receives
    feature rows needs no feature store: a failure there is reported by the first lookup by customer id,
    not at start-up); the pseudonym key is loaded by that first lookup.
    """
    served = read_served_model(model_dir)
    if served.spec.text is not None:  # text models score messages; they never look customers up
        # Load the sentence encoder now, so that a server that says it is ready answers promptly (the
        # first request would otherwise pay several seconds of model loading).
        served.classifier.predict_texts(["warm-up"])
        return ModelPredictor(served.spec, served.classifier, model_version=served.registry_version)
    if features is None:
        features = feast_feature_source(settings)
        features.warm_up()
    return ModelPredictor(
        served.spec,
        served.classifier,
        model_version=served.registry_version,
        features=features,
        pseudonymise=keyed_pseudonymiser(settings.pseudonym_key_bytes),
    )


def load_recommender(model_dir: Path, settings: Settings, *, customers=None, churn=None):
    """The recommender of a served recommendation model: its ranker, the policy packed with it, Feast
    online (unless `customers` is given) for features and consent records, and `churn` (a lookup such as
    `RemoteChurn`) for the churn risk."""
    from cxops.modeling import OfferRanker
    from cxops.recommendation.policy import load_offer_policy
    from cxops.recommendation.recommender import Recommender
    from cxops.serving.artifact import read_served_policy
    from cxops.serving.recommendation_sources import FeastCustomers

    served = read_served_model(model_dir)
    if not isinstance(served.classifier, OfferRanker):
        raise CXOpsError(f"{model_dir} does not hold a ranking model; serve it with load_predictor")
    policy = load_offer_policy(settings, read_served_policy(model_dir))
    return Recommender(
        served.spec,
        served.classifier,
        policy,
        customers if customers is not None else FeastCustomers(served.spec, settings),
        keyed_pseudonymiser(settings.pseudonym_key_bytes),
        churn=churn,
        model_version=served.registry_version,
    )
