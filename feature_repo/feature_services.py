"""Feature services: the exact feature set each model reads, by the name its spec gives."""

from __future__ import annotations

from customer_features import customer_account, customer_billing, customer_services
from feast import FeatureService
from governance import OWNER, TEAM
from offer_features import offer_catalogue

churn_features = FeatureService(
    name="churn_features",
    features=[customer_account, customer_services, customer_billing],
    description="Inputs of the churn model (models/churn/spec.yaml, features.inputs), in spec order.",
    owner=OWNER,
    tags={"model": "churn", "owner": OWNER, "team": TEAM},
)

recommendation_features = FeatureService(
    name="recommendation_features",
    # The customer views are churn's own: one definition of a customer's features, not one per model.
    features=[customer_account, customer_services, customer_billing, offer_catalogue],
    description=(
        "Inputs of the next-best-offer model (models/recommendation/spec.yaml, features.inputs): the "
        "customer's features and the offer's, for each (customer, offer) pair."
    ),
    owner="customer-value@cxops.example",
    tags={"model": "recommendation", "owner": "customer-value@cxops.example", "team": "customer-value"},
)
