"""The recommendation rules, case by case, with a real (small) ranker and customers held in memory."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxops.config import Settings
from cxops.data.generators import telco_subscribers
from cxops.errors import InvalidInputError, NotFoundError
from cxops.recommendation.candidates import candidate_pairs
from cxops.recommendation.errors import ConsentRecordMissingError
from cxops.recommendation.policy import OfferPolicy, load_offer_policy
from cxops.recommendation.recommender import ConsentRecord, Recommender
from cxops.specs import ModelSpec, load_model_code, load_spec
from cxops.training import train_ranker


class MemoryCustomers:
    """Customers' features and consent records held in a dict, keyed by pseudonym."""

    def __init__(self, spec: ModelSpec, features: pd.DataFrame, consent: dict[str, ConsentRecord]) -> None:
        self.spec = spec
        self.features = features.set_index("customer_pid")
        self.records = consent

    def pairs(self, customer_pid: str, offer_ids: list[str]) -> pd.DataFrame:
        names = [
            n for n in self.spec.features.names if n not in ("offer_id", "offer_kind", "offer_monthly_price")
        ]
        if customer_pid in self.features.index:
            row = self.features.loc[[customer_pid], names]
        else:
            row = pd.DataFrame({n: [None] for n in names})
        frame = pd.concat([row] * len(offer_ids), ignore_index=True)
        frame["offer_id"] = offer_ids
        return frame

    def consent(self, customer_pid: str) -> ConsentRecord | None:
        return self.records.get(customer_pid)


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return load_spec("recommendation")


@pytest.fixture(scope="module")
def policy() -> OfferPolicy:
    return load_offer_policy(Settings())


@pytest.fixture(scope="module")
def features(spec: ModelSpec) -> pd.DataFrame:
    subscribers = telco_subscribers(600, seed=5)
    out = load_model_code("churn").derive_features(subscribers)
    out["customer_pid"] = "pid-" + subscribers["customerID"]
    return out


@pytest.fixture(scope="module")
def ranker(spec: ModelSpec, policy: OfferPolicy, features: pd.DataFrame):
    pairs = candidate_pairs(features, policy.eligible(features), policy)
    rng = np.random.default_rng(1)
    # Families take extra lines: a pattern the ranker must learn over the popular contract offers.
    likely = (pairs["offer_id"] == "extra_line") & (pairs["Partner"] == "Yes")
    pairs["response"] = np.where(rng.random(len(pairs)) < np.where(likely, 0.8, 0.15), "accepted", "declined")
    return train_ranker(
        spec, pairs, Settings(), offer_ids=policy.offer_ids, backend="local", progress=lambda _: None
    ).classifier


def _recommender(spec, ranker, policy, features, consent, churn=None) -> Recommender:
    return Recommender(
        spec, ranker, policy, MemoryCustomers(spec, features, consent), lambda cid: f"pid-{cid}", churn=churn
    )


class ChurnCalls:
    """A churn lookup that answers a fixed probability and remembers whom it was asked about."""

    def __init__(self, probability: float | None, why: str | None = None) -> None:
        self.answer = (probability, why)
        self.asked: list[str] = []

    def __call__(self, customer_id: str) -> tuple[float | None, str | None]:
        self.asked.append(customer_id)
        return self.answer


def _customer(features: pd.DataFrame, **conditions: str) -> str:
    mask = np.ones(len(features), dtype=bool)
    for column, value in conditions.items():
        mask &= features[column].astype(str).to_numpy() == value
    return features.loc[mask, "customerID"].iloc[0]


def test_personalised_offers_are_eligible_ranked_and_explained(spec, ranker, policy, features) -> None:
    customer = _customer(
        features, Partner="Yes", PhoneService="Yes", MultipleLines="No", InternetService="DSL"
    )
    consent = {f"pid-{customer}": ConsentRecord(True, False)}
    rec = _recommender(spec, ranker, policy, features, consent, churn=ChurnCalls(0.1))
    answer = rec.recommend(customer, k=3, channel="app")
    assert answer.personalised and len(answer.offers) == 3
    assert [o.rank for o in answer.offers] == [1, 2, 3]
    assert answer.offers[0].offer_id == "extra_line"  # the learned pattern comes first
    scores = [o.score for o in answer.offers]
    assert scores == sorted(scores, reverse=True)
    row = features[features["customerID"] == customer]
    held = policy.held(row).iloc[0]
    assert not any(held[o.offer_id] for o in answer.offers)
    assert all(o.kind != "retention" for o in answer.offers)  # churn 0.1: not at risk
    assert all(o.reasons for o in answer.offers)
    assert answer.policy_version == policy.version


def test_customers_at_risk_get_retention_offers_first(spec, ranker, policy, features) -> None:
    customer = _customer(features, InternetService="Fiber optic")
    consent = {f"pid-{customer}": ConsentRecord(True, False)}
    answer = _recommender(spec, ranker, policy, features, consent, churn=ChurnCalls(0.8)).recommend(
        customer, k=4
    )
    kinds = [o.kind for o in answer.offers]
    assert kinds[:2] == ["retention", "retention"] and "retention" not in kinds[2:]
    assert answer.churn_probability == 0.8 and any("churn risk 0.80" in r for r in answer.reasons)
    down = ChurnCalls(None, "churn model unreachable")
    unknown = _recommender(spec, ranker, policy, features, consent, churn=down).recommend(customer, k=4)
    assert all(o.kind != "retention" for o in unknown.offers)
    assert any("unreachable" in r for r in unknown.reasons)
    without = _recommender(spec, ranker, policy, features, consent).recommend(customer, k=4)
    assert any("no churn model configured" in r for r in without.reasons)


def test_objection_to_profiling_gives_the_popularity_ranking(spec, ranker, policy, features) -> None:
    customer = _customer(features, Partner="Yes", PhoneService="Yes", MultipleLines="No")
    churn = ChurnCalls(0.9)
    rec = _recommender(spec, ranker, policy, features, {f"pid-{customer}": ConsentRecord(True, True)}, churn)
    answer = rec.recommend(customer, k=5)
    assert not answer.personalised
    assert any("art. 21" in r for r in answer.reasons)
    # A churn score is profiling too: the churn model is not asked, so no retention offer either.
    assert churn.asked == [] and answer.churn_probability is None
    assert all(o.kind != "retention" for o in answer.offers)
    offered = [o.offer_id for o in answer.offers]
    popularity = [o for o in ranker.popularity if o in offered]
    assert offered == popularity
    assert all("accept most" in o.reasons[0] for o in answer.offers)


def test_no_marketing_consent_means_no_offers(spec, ranker, policy, features) -> None:
    customer = features["customerID"].iloc[0]
    churn = ChurnCalls(0.9)
    rec = _recommender(
        spec, ranker, policy, features, {f"pid-{customer}": ConsentRecord(False, False)}, churn
    )
    answer = rec.recommend(customer)
    assert answer.offers == [] and any("consent to marketing" in r for r in answer.reasons)
    assert churn.asked == []


def test_missing_consent_record_and_unknown_customer_are_errors(spec, ranker, policy, features) -> None:
    customer = features["customerID"].iloc[0]
    rec = _recommender(spec, ranker, policy, features, {})
    with pytest.raises(ConsentRecordMissingError) as missing:
        rec.recommend(customer)
    assert missing.value.status_code == 409 and customer in missing.value.message
    with pytest.raises(NotFoundError, match="0000-NOBODY"):
        rec.recommend("0000-NOBODY")


@pytest.mark.parametrize(
    ("k", "channel", "match"),
    [
        (0, "app", "'k'"),
        (11, "app", "'k'"),
        (True, "app", "'k'"),
        ("3", "app", "'k'"),
        (3, "fax", "'channel'"),
    ],
)
def test_bad_requests_say_what_is_allowed(spec, ranker, policy, features, k, channel, match) -> None:
    rec = _recommender(spec, ranker, policy, features, {})
    with pytest.raises(InvalidInputError, match=match) as error:
        rec.recommend(features["customerID"].iloc[0], k=k, channel=channel)
    assert error.value.status_code == 422


def test_defaults_come_from_the_policy(spec, ranker, policy, features) -> None:
    customer = features["customerID"].iloc[0]
    rec = _recommender(spec, ranker, policy, features, {f"pid-{customer}": ConsentRecord(True, False)})
    answer = rec.recommend(f"  {customer} ")
    assert answer.k == policy.k.default and answer.channel == policy.channels[0]
    assert answer.customer_id == customer
    with pytest.raises(InvalidInputError, match="customer_id"):
        rec.recommend("   ")
