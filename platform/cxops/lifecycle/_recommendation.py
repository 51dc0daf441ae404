"""The recommendation model's features step: customer features (churn's definitions), the offer catalogue
and consent records into Feast, and the response history as the training entity frame."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from cxops.config import Settings
from cxops.specs import ModelSpec, load_model_code

__all__ = ["build_recommendation_features"]


def build_recommendation_features(
    spec: ModelSpec, raw: pd.DataFrame, entities_path: str, settings: Settings
) -> dict[str, Any]:
    """Pseudonymise, store customer features, offers and consent in Feast, and write the entity frame:
    one row per offer made (customer pseudonym, offer, time, response, bias segments).

    Customers who objected to profiling (GDPR art. 21) keep their consent record online, so the server
    can honour the objection, but none of their rows trains or evaluates the model.
    """
    from cxops.features import FeatureStoreClient
    from cxops.privacy import pseudonymise_frame
    from cxops.recommendation.policy import load_offer_policy

    assert spec.recommendation is not None and spec.features is not None
    policy = load_offer_policy(settings, settings.root / spec.recommendation.policy)
    policy.check_against(spec)
    private = pseudonymise_frame(raw, spec, settings.pseudonym_key_bytes())
    join_key, timestamp = spec.features.join_key, spec.data.timestamp
    client = FeatureStoreClient(settings)

    features = load_model_code(spec.name, settings).derive_features(private)
    client.write_offline(spec, features)
    first_offer = pd.to_datetime(private[timestamp], utc=True).min()
    offers = policy.catalogue_frame().assign(**{timestamp: first_offer})
    client.write_view("offer_catalogue", offers, timestamp)
    consent_columns = [policy.consent.marketing_consent_column, policy.consent.profiling_opt_out_column]
    consent = private[[join_key, timestamp, *consent_columns]].rename(
        columns=dict(zip(consent_columns, ("marketing_consent", "profiling_opt_out"), strict=True))
    )
    client.write_view("customer_consent", consent, timestamp)
    client.apply(spec)
    client.materialize(end=datetime.now(UTC))

    opted_out = private[policy.consent.profiling_opt_out_column].astype(str) == "Yes"
    item_key = spec.recommendation.item_key
    keep = [join_key, item_key, timestamp, spec.data.label]
    keep += [s for s in spec.evaluation.bias_segments if s not in keep]
    entities = private.loc[~opted_out, keep]
    Path(entities_path).parent.mkdir(parents=True, exist_ok=True)
    entities.to_parquet(entities_path, index=False)
    return {
        "entities": len(entities),
        "customers": int(entities[join_key].nunique()),
        "excluded_profiling_objections": int(private.loc[opted_out, join_key].nunique()),
        "feature_service": spec.features.feature_service,
        "feature_views": list(spec.features.feature_views),
        "policy_version": policy.version,
    }
