"""Feature services: the exact feature set each model reads, by the name its spec gives."""

from __future__ import annotations

from customer_features import customer_account, customer_billing, customer_services
from feast import FeatureService
from governance import OWNER, TEAM

churn_features = FeatureService(
    name="churn_features",
    features=[customer_account, customer_services, customer_billing],
    description="Inputs of the churn model (models/churn/spec.yaml, features.inputs), in spec order.",
    owner=OWNER,
    tags={"model": "churn", "owner": OWNER, "team": TEAM},
)
