"""`cxops recommend`: next-best offers for a customer, in this process, under policies/offers.yaml."""

from __future__ import annotations

import json

import typer

from cxops.cli._output import console
from cxops.config import get_settings


def recommend(
    customer_id: str = typer.Argument(..., help="The customer's id (e.g. 7590-VHVEG)."),
    k: int = typer.Option(None, "--k", "-k", help="How many offers. Default: k.default of the policy."),
    channel: str = typer.Option(None, help="Where the offers are shown (agent, app, email, sms, web)."),
    version: int = typer.Option(None, "--version", "-v", help="Registered version. Default: the latest."),
    churn_url: str = typer.Option(
        None,
        envvar="CXOPS_RECOMMENDATION_CHURN_URL",
        help="Churn model server to ask for the customer's risk (retention offers). Unset: risk unknown.",
    ),
) -> None:
    """Rank the offers a customer may be made, with the reasons, as the recommendation server does.

    Features and the consent record come from the Feast online store. Example:
    [bold]cxops recommend 7590-VHVEG -k 3 --channel agent --churn-url http://127.0.0.1:3000[/]
    """
    from cxops.modeling import OfferRanker, load_classifier
    from cxops.recommendation.policy import load_offer_policy
    from cxops.recommendation.recommender import Recommender
    from cxops.registry import Registry
    from cxops.serving.predictor import keyed_pseudonymiser
    from cxops.serving.recommendation_sources import FeastCustomers, RemoteChurn
    from cxops.specs import load_spec

    settings = get_settings()
    spec = load_spec("recommendation", settings)
    with Registry.from_settings(settings) as registry:
        record = registry.get_version(spec.name, version)
    ranker = load_classifier(record.artifacts["model"])
    assert isinstance(ranker, OfferRanker)
    recommender = Recommender(
        spec,
        ranker,
        load_offer_policy(settings, settings.root / spec.recommendation.policy),
        FeastCustomers(spec, settings),
        keyed_pseudonymiser(settings.pseudonym_key_bytes),
        churn=RemoteChurn(churn_url) if churn_url else None,
        model_version=str(record.version),
    )
    answer = recommender.recommend(customer_id, k, channel)
    console.print_json(json.dumps(answer.to_dict()))
