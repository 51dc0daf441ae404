"""Next-best offers for one customer: the ranker's scores inside the offer policy's rules.

    offers the customer may be made (policy: not held, eligible; retention offers for those at risk)
    -> personalised scores (the ranker), or the popularity ranking for a customer who objected to
       profiling -> retention offers first -> the top k, each with its reasons.

The caller supplies where the customer's online features and consent record come from (Feast) and,
when it has one, how to ask for the churn probability (the churn model's server); this module holds the
rules alone, so they are tested case by case without servers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from cxops.errors import InvalidInputError, NotFoundError
from cxops.modeling import OfferRanker
from cxops.recommendation.candidates import OFFER_FEATURES, with_offer_features
from cxops.recommendation.errors import ConsentRecordMissingError
from cxops.recommendation.policy import OfferPolicy
from cxops.specs import ModelSpec

__all__ = [
    "ChurnLookup",
    "ConsentRecord",
    "CustomerSource",
    "RecommendedOffer",
    "Recommendations",
    "Recommender",
]


@dataclass(frozen=True)
class ConsentRecord:
    marketing_consent: bool
    profiling_opt_out: bool


ChurnLookup = Callable[[str], tuple[float | None, str | None]]
"""Customer id -> (churn probability, None), or (None, why it is unknown)."""


class CustomerSource(Protocol):
    """Where a customer's online data comes from (the Feast online store in production)."""

    def pairs(self, customer_pid: str, offer_ids: list[str]) -> pd.DataFrame:
        """The ranker's inputs for the customer against each offer; customer features all missing when the
        customer is unknown."""
        ...

    def consent(self, customer_pid: str) -> ConsentRecord | None:
        """The customer's consent record, or None when there is none."""
        ...


@dataclass(frozen=True)
class RecommendedOffer:
    rank: int
    offer_id: str
    name: str
    kind: str
    monthly_price: float
    score: float
    reasons: list[str]


@dataclass(frozen=True)
class Recommendations:
    customer_id: str
    channel: str
    k: int
    personalised: bool
    offers: list[RecommendedOffer]
    reasons: list[str]
    churn_probability: float | None
    policy_version: str
    model_name: str
    model_version: str
    eligible_offers: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Recommender:
    def __init__(
        self,
        spec: ModelSpec,
        ranker: OfferRanker,
        policy: OfferPolicy,
        customers: CustomerSource,
        pseudonymise: Callable[[str], str],
        *,
        churn: ChurnLookup | None = None,
        model_version: str = "unregistered",
    ) -> None:
        assert spec.recommendation is not None
        self.spec = spec
        self.ranker = ranker
        self.policy = policy
        self.customers = customers
        self.pseudonymise = pseudonymise
        self.churn = churn
        self.model_version = model_version

    @property
    def name(self) -> str:
        return self.spec.name

    def check_request(self, customer_id: Any, k: Any, channel: Any) -> tuple[str, int, str]:
        """The request's values, checked (422 naming the field and what is allowed); k defaults."""
        if not isinstance(customer_id, str) or not customer_id.strip():
            raise InvalidInputError("'customer_id' must be a non-empty string")
        limits = self.policy.k
        if k is None:
            k = limits.default
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= limits.max:
            raise InvalidInputError(
                f"'k' must be a whole number from 1 to {limits.max} (policies/offers.yaml k.max); got {k!r}"
            )
        if channel is None:
            channel = self.policy.channels[0]
        if channel not in self.policy.channels:
            raise InvalidInputError(
                f"'channel' must be one of {', '.join(self.policy.channels)}; got {channel!r}"
            )
        return customer_id.strip(), k, channel

    def recommend(
        self, customer_id: str, k: int | None = None, channel: str | None = None
    ) -> Recommendations:
        """Ranked offers for a customer, with the reasons. The churn model is asked only for customers who
        consented to marketing and did not object to profiling (a churn score is profiling too)."""
        customer_id, k, channel = self.check_request(customer_id, k, channel)
        pid = self.pseudonymise(customer_id)
        offer_ids = self.policy.offer_ids
        pairs = self.customers.pairs(pid, offer_ids)
        customer_columns = [n for n in self.spec.features.served_names if n not in self._offer_feature_names]
        if len(pairs) != len(offer_ids) or pairs[customer_columns].isna().all(axis=None):
            raise NotFoundError(
                f"no features for customer '{customer_id}' in the online store; check the id, or materialize "
                "the customer's features first"
            )
        consent = self.customers.consent(pid)
        if consent is None:
            raise ConsentRecordMissingError(
                f"customer '{customer_id}' has no consent record, and offers need proven consent to "
                "marketing (GDPR art. 7(1)); record the customer's choice first"
            )
        answer = dict(
            customer_id=customer_id,
            channel=channel,
            k=k,
            policy_version=self.policy.version,
            model_name=self.name,
            model_version=self.model_version,
        )
        if not consent.marketing_consent:
            return Recommendations(
                **answer,
                churn_probability=None,
                personalised=False,
                offers=[],
                reasons=["no consent to marketing: nothing is offered (GDPR art. 6(1)(a))"],
            )
        reasons: list[str] = []
        if consent.profiling_opt_out:
            churn_probability, churn_note = None, "not assessed: the customer objected to profiling"
        elif self.churn is not None:
            churn_probability, churn_note = self.churn(customer_id)
        else:
            churn_probability, churn_note = None, "no churn model configured"
        profile = pairs.iloc[[0]]
        allowed = self.policy.eligible(
            profile, None if churn_probability is None else np.array([churn_probability])
        ).iloc[0]
        threshold = self.policy.retention.churn_at_least
        if churn_probability is None:
            reasons.append(f"churn risk unknown ({churn_note}): no retention offers")
        elif churn_probability >= threshold:
            reasons.append(
                f"churn risk {churn_probability:.2f} >= {threshold:.2f}: retention offers are ranked first"
            )
        candidates = with_offer_features(pairs[allowed.to_numpy()].reset_index(drop=True), self.policy)
        if consent.profiling_opt_out:
            personalised = False
            order = {o: i for i, o in enumerate(self._popularity())}
            scores = np.array([1.0 - order.get(o, len(order)) / len(order) for o in candidates["offer_id"]])
            reasons.append(
                "the customer objected to profiling (GDPR art. 21): offers are ranked by popularity, "
                "not from their data"
            )
        else:
            personalised = True
            scores = self.ranker.score(candidates) if len(candidates) else np.zeros(0)
        ranked = self._order(candidates["offer_id"].tolist(), scores)[:k]
        offers = [
            self._offer(rank, offer_id, score, personalised, churn_probability)
            for rank, (offer_id, score) in enumerate(ranked, start=1)
        ]
        if not offers:
            reasons.append("no offer in the catalogue is open to this customer")
        return Recommendations(
            **answer,
            churn_probability=churn_probability,
            personalised=personalised,
            offers=offers,
            reasons=reasons,
            eligible_offers=len(candidates),
        )

    @property
    def _offer_feature_names(self) -> set[str]:
        return {*OFFER_FEATURES, self.spec.recommendation.item_key}

    def _popularity(self) -> list[str]:
        known = [o for o in self.ranker.popularity if o in self.policy.by_id]
        return known + [o for o in self.policy.offer_ids if o not in known]

    def _order(self, offer_ids: list[str], scores: np.ndarray) -> list[tuple[str, float]]:
        """Retention offers first, then by score; ties keep catalogue order."""
        position = {o: i for i, o in enumerate(self.policy.offer_ids)}
        return sorted(
            zip(offer_ids, (float(s) for s in scores), strict=True),
            key=lambda item: (self.policy.by_id[item[0]].kind != "retention", -item[1], position[item[0]]),
        )

    def _offer(
        self, rank: int, offer_id: str, score: float, personalised: bool, churn: float | None
    ) -> RecommendedOffer:
        offer = self.policy.by_id[offer_id]
        reasons = []
        if offer.kind == "retention":
            reasons.append(f"retention offer for a customer at risk (churn {churn:.2f})")
        reasons.append(
            "ranked by the model from the customer's profile"
            if personalised
            else "among the offers customers accept most"
        )
        if offer.eligible_when:
            conditions = "; ".join(f"{c} is {' or '.join(v)}" for c, v in offer.eligible_when.items())
            reasons.append(f"not held, and eligible: {conditions}")
        else:
            reasons.append("not held")
        return RecommendedOffer(
            rank=rank,
            offer_id=offer_id,
            name=offer.name,
            kind=offer.kind,
            monthly_price=offer.monthly_price,
            score=round(score, 6),
            reasons=reasons,
        )
