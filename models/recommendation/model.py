"""The recommendation model's own code: raw rows -> features, and the IBM holdings file -> response rows.

Features are the churn model's, derived by the churn model's own code, so a subscriber looks the same to
both models; the offer's catalogue features are added beside them (`cxops.recommendation.candidates`).

The IBM Telco file records what customers hold, not which offers they were made and how they answered.
Holdings are implicit feedback: a customer who holds a service once accepted it. The leave-one-out
protocol turns them into response rows: per customer, one held offer is hidden and becomes the
"accepted" row, and every other offer the policy allows the customer becomes a "declined" row. Hiding
must be complete (`remove_holding`): the profile on the rows must look like that of a customer who never
took the offer (no internet add-ons without internet, a bill without its price), or the model would learn
to spot the hole instead of the customer's taste.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from cxops.data.offers import OFFER_RESPONSE_COLUMNS
from cxops.errors import InvalidInputError
from cxops.recommendation.policy import OfferPolicy
from cxops.specs import load_model_code

__all__ = ["derive_features", "holdings_to_responses", "prepare_real", "remove_holding"]

ITEM_KEY = "offer_id"
INTERNET_ADDONS = [
    "OnlineSecurity",
    "OnlineBackup",
    "DeviceProtection",
    "TechSupport",
    "StreamingTV",
    "StreamingMovies",
]
MIN_MONTHLY_CHARGE = 18.0
"""The lowest bill in the IBM file: removing a service never takes a customer below it."""

# What a customer who does not hold an offer has, by the column its `held_when` reads; the services
# below it go too (no add-ons without internet, no second line without a phone line).
_NOT_HELD: dict[str, dict[str, str]] = {
    "InternetService": {"InternetService": "No", **dict.fromkeys(INTERNET_ADDONS, "No internet service")},
    "PhoneService": {"PhoneService": "No", "MultipleLines": "No phone service"},
    "MultipleLines": {"MultipleLines": "No"},
    **{addon: {addon: "No"} for addon in INTERNET_ADDONS},
    "Contract": {"Contract": "Month-to-month"},
}


def derive_features(raw: pd.DataFrame) -> pd.DataFrame:
    """Typed raw rows -> the churn model's inputs per row; every other column (offer, response, consent)
    is kept."""
    return load_model_code("churn").derive_features(raw)


def _number(values: pd.Series) -> pd.Series:
    """Numbers from typed columns or the raw file's text (blank -> NaN)."""
    text = values.astype(str).str.strip() if values.dtype == object else values
    return pd.to_numeric(text.replace("", np.nan), errors="coerce").astype(float)


def remove_holding(profile: pd.DataFrame, offer_ids: Sequence[str], policy: OfferPolicy) -> pd.DataFrame:
    """A copy of `profile` where each row no longer holds its offer (`offer_ids[i]` for row i).

    Services that depend on the offer go with it, and the bill loses the offer's price (never below
    `MIN_MONTHLY_CHARGE`); TotalCharges loses the same amount for every month of tenure, so the charge
    trend stays what it was. Rows that do not hold their offer, and retention offers, are left as they
    are. MonthlyCharges and TotalCharges come back as numbers, whether they came as numbers or text.
    """
    ids = np.asarray(offer_ids, dtype=object)
    if len(ids) != len(profile):
        raise InvalidInputError(
            f"remove_holding: {len(ids)} offer ids for {len(profile)} profile rows; give one offer per row"
        )
    out = profile.copy()
    monthly = _number(out["MonthlyCharges"])
    total = _number(out["TotalCharges"])
    tenure = _number(out["tenure"]).fillna(0.0)
    held = policy.held(profile)
    for offer_id in pd.unique(ids):
        offer = policy.offer(offer_id)
        rows = (ids == offer_id) & held[offer_id].to_numpy() if offer.held_when else np.zeros(len(ids), bool)
        if not rows.any():
            continue
        for column in offer.held_when:
            for target, value in _NOT_HELD[column].items():
                out.loc[rows, target] = value
        if offer.monthly_price > 0:
            monthly[rows] = (monthly[rows] - offer.monthly_price).clip(lower=MIN_MONTHLY_CHARGE)
    reduction = _number(profile["MonthlyCharges"]) - monthly
    out["MonthlyCharges"] = monthly.round(2)
    out["TotalCharges"] = (total - reduction * tenure).clip(lower=0.0).round(2)
    return out


def holdings_to_responses(raw: pd.DataFrame, policy: OfferPolicy, seed: int = 20261130) -> pd.DataFrame:
    """Leave-one-out response rows from subscriber holdings (the IBM file, typed or as read, as text).

    Per subscriber, one held offer is drawn uniformly (seeded) among those whose removal leaves every
    other holding intact and the subscriber with a phone line or internet; it is hidden, and its row says
    "accepted"; every other offer the policy allows on the masked profile gets a "declined" row (no churn
    probability, hence no retention offers). Subscribers holding no such offer are skipped. Rows are
    made by an agent, have no consent record, and keep the file's event timestamp when it has one;
    columns follow the raw schema of the spec (Churn is dropped).
    """
    frame = raw.drop(columns=["Churn"], errors="ignore").reset_index(drop=True)
    held = policy.held(frame)
    hideable = pd.DataFrame(False, index=frame.index, columns=held.columns)
    for offer in policy.offers:
        if offer.kind == "retention" or not held[offer.id].any():
            continue
        masked = remove_holding(frame, [offer.id] * len(frame), policy)
        after = policy.held(masked)
        others_intact = (after.drop(columns=offer.id) == held.drop(columns=offer.id)).all(axis=1)
        # Nobody subscribes to nothing: a profile without any line would give the hidden offer away.
        served = (masked["PhoneService"].astype(str) == "Yes") | (
            masked["InternetService"].astype(str) != "No"
        )
        hideable[offer.id] = held[offer.id] & ~after[offer.id] & others_intact & served

    choices = hideable.to_numpy()
    count = choices.sum(axis=1)
    rng = np.random.default_rng(seed)
    pick = np.floor(rng.random(len(frame)) * np.maximum(count, 1)).astype(int)
    kept = np.flatnonzero(count > 0)
    # The pick-th hideable offer of each kept subscriber, in catalogue order.
    position = choices.cumsum(axis=1) - 1
    column = np.argmax(choices & (position == pick[:, None]), axis=1)[kept]
    hidden = np.asarray(held.columns, dtype=object)[column]

    masked = remove_holding(frame.iloc[kept].reset_index(drop=True), hidden, policy)
    allowed = policy.eligible(masked).to_numpy()
    allowed[np.arange(len(masked)), column] = True  # the hidden offer is the accepted one
    customer, offer_column = np.nonzero(allowed)
    rows = masked.iloc[customer].reset_index(drop=True)
    rows["marketing_consent"] = None
    rows["profiling_opt_out"] = None
    rows[ITEM_KEY] = np.asarray(held.columns, dtype=object)[offer_column]
    rows["channel"] = "agent"
    rows["response"] = np.where(offer_column == column[customer], "accepted", "declined")
    ordered = [c for c in OFFER_RESPONSE_COLUMNS if c in rows.columns]
    return rows[ordered + [c for c in rows.columns if c not in ordered]]


def prepare_real(raw: pd.DataFrame, policy: OfferPolicy) -> pd.DataFrame:
    """A real file as response rows: a response history (it has `offer_id`) passes through unchanged;
    a holdings file (the IBM Telco file) goes through `holdings_to_responses`."""
    if ITEM_KEY in raw.columns:
        return raw
    return holdings_to_responses(raw, policy)
