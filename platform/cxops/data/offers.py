"""Seeded generator of offer responses: which offers subscribers were made, and which they accepted.

The embedded default data for the recommendation model. The subscribers are exactly those of
`telco_subscribers` for the same `n`, `seed` and `as_of`; each gets a consent record and one to four
distinct offers over the 60 days before `as_of`, drawn among what `policies/offers.yaml` allows them
(retention offers only for customers who churn, the at-risk signal here, and more often to them).

Acceptance follows a latent affinity between the customer and the offer, so that a ranking that reads
the customer beats offer popularity:

- partners and families take an extra mobile line; seniors a home phone line;
- fibre customers and younger subscribers take streaming, and holding TV streaming makes movies likelier
  (and the reverse); DSL subscribers who stream take the fibre upgrade;
- seniors and fibre customers without technical support take tech support and device protection;
- online security and cloud backup go together;
- long-tenure month-to-month customers sign one- and two-year contracts;
- customers at risk accept retention offers (about 55%) and everything else less;
- a high monthly bill puts customers off priced offers; agents convert better than email and SMS.

A per-customer propensity and per-offer noise keep the responses from being deterministic.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

import numpy as np
import pandas as pd
import yaml

from cxops.config import project_root
from cxops.recommendation.errors import OfferPolicyError
from cxops.recommendation.policy import POLICY_FILE, OfferPolicy

__all__ = ["CHANNEL_SHARES", "OFFER_RESPONSE_COLUMNS", "telco_offer_responses"]

_SUBSCRIBER_COLUMNS = [
    "customerID",
    "gender",
    "SeniorCitizen",
    "Partner",
    "Dependents",
    "tenure",
    "PhoneService",
    "MultipleLines",
    "InternetService",
    "OnlineSecurity",
    "OnlineBackup",
    "DeviceProtection",
    "TechSupport",
    "StreamingTV",
    "StreamingMovies",
    "Contract",
    "PaperlessBilling",
    "PaymentMethod",
    "MonthlyCharges",
    "TotalCharges",
    "support_contacts_90d",
]
OFFER_RESPONSE_COLUMNS = [
    *_SUBSCRIBER_COLUMNS,
    "marketing_consent",
    "profiling_opt_out",
    "offer_id",
    "channel",
    "response",
    "event_timestamp",
]
"""The raw row of the recommendation model (`models/recommendation/spec.yaml`, data.columns), in order."""

CHANNEL_SHARES = {"agent": 0.25, "app": 0.25, "email": 0.2, "sms": 0.1, "web": 0.2}
_CHANNEL_EFFECT = {"agent": 0.6, "app": 0.2, "email": -0.4, "sms": -0.5, "web": 0.0}
_OFFER_WINDOW_DAYS = 60
_RETENTION_WEIGHT = 3.0  # retention offers go to customers at risk first, as the policy ranks them
_AT_RISK_PENALTY = 0.5  # customers about to leave are less interested in buying more


@cache
def _default_policy() -> OfferPolicy:
    return OfferPolicy.model_validate(yaml.safe_load((project_root() / POLICY_FILE).read_text()))


def _affinity(profile: pd.DataFrame, offer: np.ndarray) -> np.ndarray:
    """Log-odds of acceptance of `offer[i]` by the customer of `profile` row i, before channel, price and
    noise."""

    def yes(column: str) -> np.ndarray:
        return (profile[column] == "Yes").to_numpy()

    senior = (profile["SeniorCitizen"] == "1").to_numpy()
    partner, dependents = yes("Partner"), yes("Dependents")
    tenure = profile["tenure"].to_numpy(dtype=float)
    fiber = (profile["InternetService"] == "Fiber optic").to_numpy()
    dsl = (profile["InternetService"] == "DSL").to_numpy()
    contract = profile["Contract"].to_numpy()
    month_to_month, one_year = contract == "Month-to-month", contract == "One year"
    tv, movies = yes("StreamingTV"), yes("StreamingMovies")
    security, backup, tech = yes("OnlineSecurity"), yes("OnlineBackup"), yes("TechSupport")
    contacts = profile["support_contacts_90d"].to_numpy(dtype=float)
    charges = profile["MonthlyCharges"].to_numpy(dtype=float)
    loyal = np.minimum(tenure, 60.0)

    by_offer = {
        "extra_line": -2.8 + 2.2 * partner + 1.0 * dependents - 0.6 * senior,
        "phone_line": -2.6 + 1.8 * senior + 0.6 * dependents - 0.6 * (tenure < 12),
        "internet_dsl": -2.4 + 1.6 * senior + 0.6 * partner - 0.6 * dependents,
        "internet_fiber": -3.0 + 2.6 * (dsl & (tv | movies)) + 1.2 * (dependents & ~senior) - 1.0 * senior,
        "online_security": -2.9 + 2.2 * backup + 0.6 * dependents + 0.5 * (tenure > 24),
        "online_backup": -2.9 + 2.2 * security + 0.6 * dependents + 0.4 * yes("DeviceProtection"),
        "device_protection": -3.2 + 1.6 * senior + 1.4 * (fiber & ~tech) + 0.5 * backup,
        "tech_support": -3.2 + 1.8 * senior + 1.5 * fiber + 0.3 * np.minimum(contacts, 4),
        "streaming_tv": -3.3 + 1.4 * fiber + 1.0 * ~senior + 2.2 * movies + 0.3 * dependents,
        "streaming_movies": -3.3 + 1.4 * fiber + 1.0 * ~senior + 2.2 * tv + 0.3 * partner,
        "contract_one_year": -3.6 + 0.07 * loyal * month_to_month,
        "contract_two_year": -4.0 + 0.07 * loyal * month_to_month + 2.0 * (one_year & (tenure > 24)),
        "loyalty_discount": 0.3 + 0.03 * (charges - 65.0),
        "free_speed_upgrade": -0.6 + 1.2 * fiber + 0.25 * np.minimum(contacts, 4),
    }
    unknown = sorted(set(offer) - set(by_offer))
    if unknown:
        raise OfferPolicyError(
            f"offers {unknown} of the offer policy have no acceptance model in the offer-response generator "
            "(cxops.data.offers); add one there, or generate with policies/offers.yaml"
        )
    return np.select([offer == o for o in by_offer], list(by_offer.values()), default=np.nan)


def telco_offer_responses(
    n: int = 3000, seed: int = 7, as_of: datetime | None = None, policy: OfferPolicy | None = None
) -> pd.DataFrame:
    """One row per offer made to `n` subscribers during the 60 days before `as_of` (default: today,
    midnight UTC): the subscriber's profile when the offer was made, consent, offer, channel, response."""
    # The subscriber generator is registered next to this one; importing it here avoids an import cycle.
    from cxops.data.generators import telco_subscribers

    as_of = as_of or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    policy = policy or _default_policy()
    subscribers = telco_subscribers(n, seed, as_of)
    # A stream of its own, so the subscribers stay identical to telco_subscribers' for the same seed.
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])

    # Consent: most customers agreed to marketing; a few have no record at all.
    draw = rng.random(n)
    consent = np.where(draw < 0.80, "Yes", np.where(draw < 0.95, "No", None))
    opt_out = np.where(rng.random(n) < 0.07, "Yes", "No").astype(object)
    opt_out[pd.isna(consent)] = None

    # Offers made: 1-4 distinct allowed offers per customer (weighted sampling without replacement).
    at_risk = (subscribers["Churn"] == "Yes").to_numpy()
    allowed = policy.eligible(subscribers, churn_probability=at_risk.astype(float))
    offer_ids = np.asarray(allowed.columns, dtype=object)
    weight = np.array([_RETENTION_WEIGHT if policy.offer(o).kind == "retention" else 1.0 for o in offer_ids])
    keys = np.where(allowed.to_numpy(), rng.exponential(size=allowed.shape) / weight, np.inf)
    rank = keys.argsort(axis=1).argsort(axis=1)
    made = (rank < rng.integers(1, 5, n)[:, None]) & allowed.to_numpy()
    customer, column = np.nonzero(made)
    offer = offer_ids[column]
    rows = len(offer)

    channels = list(CHANNEL_SHARES)
    channel = rng.choice(channels, size=rows, p=list(CHANNEL_SHARES.values()))
    end = pd.Timestamp(as_of)
    end = end.tz_localize(UTC) if end.tzinfo is None else end.tz_convert(UTC)
    offered_at = end - pd.to_timedelta(rng.integers(3600, _OFFER_WINDOW_DAYS * 86400, rows), unit="s")

    profile = subscribers.iloc[customer].reset_index(drop=True)
    price = np.array([policy.offer(o).monthly_price for o in offer], dtype=float)
    charges = profile["MonthlyCharges"].to_numpy(dtype=float)
    is_retention = np.array([policy.offer(o).kind == "retention" for o in offer], dtype=bool)
    logit = (
        _affinity(profile, offer)
        # A high bill puts customers off whatever adds to it, the more so the dearer the offer.
        - 0.02 * np.maximum(charges - 45.0, 0.0) * np.clip(price, 0.0, 20.0) / 10.0
        + np.vectorize(_CHANNEL_EFFECT.get)(channel)
        - _AT_RISK_PENALTY * (at_risk[customer] & ~is_retention)
        + rng.normal(0.0, 0.5, n)[customer]  # how receptive the customer is to offers in general
        + rng.normal(0.0, 0.5, rows)
    )
    accepted = rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))

    out = profile[_SUBSCRIBER_COLUMNS].assign(
        marketing_consent=consent[customer],
        profiling_opt_out=opt_out[customer],
        offer_id=offer,
        channel=channel,
        response=np.where(accepted, "accepted", "declined"),
        event_timestamp=offered_at,
    )
    order = np.lexsort((out["event_timestamp"].to_numpy(), customer))  # per customer, in time order
    return out.iloc[order].reset_index(drop=True)[OFFER_RESPONSE_COLUMNS]
