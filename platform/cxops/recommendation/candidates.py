"""Candidate (customer, offer) pairs: what the ranker scores for a customer, in training, evaluation and
serving alike.

A pair row is the customer's feature row with the offer's id and catalogue features beside it (the
columns of `spec.features.inputs`), plus `query` (the customer row it came from).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cxops.recommendation.policy import OfferPolicy

__all__ = ["OFFER_FEATURES", "QUERY", "candidate_pairs", "with_offer_features"]

QUERY = "query"
OFFER_FEATURES = ("offer_kind", "offer_monthly_price")


def with_offer_features(pairs: pd.DataFrame, policy: OfferPolicy, item_key: str = "offer_id") -> pd.DataFrame:
    """`pairs` with the catalogue's offer features (replacing any present), in the same row order."""
    catalogue = policy.catalogue_frame().rename(columns={"offer_id": item_key})
    base = pairs.drop(columns=[c for c in OFFER_FEATURES if c in pairs.columns])
    out = base.merge(catalogue, on=item_key, how="left", validate="many_to_one")
    out.index = pairs.index
    return out


def candidate_pairs(
    customers: pd.DataFrame,
    allowed: pd.DataFrame,
    policy: OfferPolicy,
    item_key: str = "offer_id",
) -> pd.DataFrame:
    """One row per (customer row, allowed offer), offers in catalogue order within a customer.

    `customers` holds one row per query (profile columns and customer features); `allowed` is a boolean
    customers x offers frame on the same index (`OfferPolicy.eligible`, possibly widened). The `query`
    column is the customer row's index label.
    """
    offer_ids = [o for o in policy.offer_ids if o in allowed.columns]
    mask = allowed[offer_ids].to_numpy(dtype=bool)
    rows, cols = np.nonzero(mask)
    pairs = customers.iloc[rows].copy()
    pairs[QUERY] = customers.index.to_numpy()[rows]
    pairs[item_key] = np.asarray(offer_ids, dtype=object)[cols]
    pairs = pairs.reset_index(drop=True)
    return with_offer_features(pairs, policy, item_key)
