"""The two baselines a next-best-offer model must beat, fitted on the training responses only.

- Popularity: offers ranked by how often they were accepted in training, the same for every customer.
  It is also the ranking the server gives customers who objected to profiling (GDPR art. 21).
- Co-occurrence: for a customer holding offers i, the acceptance rate of offer j among training
  customers holding i who were offered j, averaged over the i's and shrunk toward j's global rate.

Both score candidate pairs like a model does (`score(pairs) -> np.ndarray`, higher first), so the
evaluation ranks all three with the same code and the same tie-breaking (catalogue order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cxops.errors import InvalidInputError
from cxops.recommendation.policy import OfferPolicy
from cxops.specs import ModelSpec

__all__ = [
    "COOCCURRENCE_PRIOR",
    "CooccurrenceBaseline",
    "PopularityBaseline",
    "customer_offer_matrix",
    "customer_profiles",
]

COOCCURRENCE_PRIOR = 2.0
"""Pseudo-customers at the global rate added to every co-occurrence cell: rare pairs lean on it."""


def _catalogue(spec: ModelSpec, policy: OfferPolicy | None) -> list[str]:
    if policy is not None:
        return list(policy.offer_ids)
    assert spec.recommendation is not None
    return list(spec.data.column(spec.recommendation.item_key).categories or [])


def _require(frame: pd.DataFrame, columns: Sequence[str], spec: ModelSpec, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInputError(f"model '{spec.name}': {what} lacks columns {missing}; add them")


def _check_offers(offers: pd.Series, catalogue: Sequence[str], spec: ModelSpec, what: str) -> None:
    unknown = sorted(set(offers.astype(str)) - set(catalogue))
    if unknown:
        raise InvalidInputError(
            f"model '{spec.name}': {what} names offers outside the catalogue: {unknown[:10]}; known offers: "
            f"{', '.join(catalogue)}"
        )


def _item_key(spec: ModelSpec) -> str:
    if spec.recommendation is None:
        raise InvalidInputError(f"model '{spec.name}' is not a recommendation model (task {spec.task!r})")
    return spec.recommendation.item_key


@dataclass(frozen=True)
class PopularityBaseline:
    """Acceptances per offer in training; the non-personalised ranking."""

    catalogue: tuple[str, ...]
    """Every offer, in catalogue order (offers never accepted count 0)."""
    acceptances: dict[str, int]
    item_key: str = "offer_id"
    model_name: str = ""

    @classmethod
    def fit(
        cls, train_frame: pd.DataFrame, spec: ModelSpec, policy: OfferPolicy | None = None
    ) -> PopularityBaseline:
        """Count accepted responses per offer. The catalogue is the policy's (or the spec's offer ids)."""
        item_key = _item_key(spec)
        catalogue = _catalogue(spec, policy)
        _require(train_frame, [item_key, spec.data.label], spec, "the training frame")
        _check_offers(train_frame[item_key], catalogue, spec, "the training frame")
        accepted = train_frame.loc[train_frame[spec.data.label].astype(str) == spec.data.positive_label]
        counts = accepted[item_key].astype(str).value_counts()
        return cls(
            catalogue=tuple(catalogue),
            acceptances={offer: int(counts.get(offer, 0)) for offer in catalogue},
            item_key=item_key,
            model_name=spec.name,
        )

    def ranking(self) -> list[str]:
        """Every offer id, most accepted first; ties in catalogue order."""
        order = sorted(range(len(self.catalogue)), key=lambda i: (-self.acceptances[self.catalogue[i]], i))
        return [self.catalogue[i] for i in order]

    def score(self, pairs: pd.DataFrame) -> np.ndarray:
        if self.item_key not in pairs.columns:
            raise InvalidInputError(
                f"popularity baseline: the candidate pairs lack the column '{self.item_key}'"
            )
        unknown = sorted(set(pairs[self.item_key].astype(str)) - set(self.catalogue))
        if unknown:
            raise InvalidInputError(
                f"popularity baseline of model '{self.model_name}': offers {unknown[:10]} are not in the "
                f"catalogue it was fitted on ({', '.join(self.catalogue)})"
            )
        return pairs[self.item_key].astype(str).map(self.acceptances).to_numpy(dtype=float)


@dataclass(frozen=True)
class CooccurrenceBaseline:
    """score(c, j) = mean over offers i that c holds of rate(j | holds i), or j's global rate."""

    catalogue: tuple[str, ...]
    global_rate: np.ndarray
    """Per offer j: smoothed acceptance rate of j among training customers offered j."""
    conditional_rate: np.ndarray
    """[i, j]: acceptance rate of j among training customers holding i who were offered j, shrunk
    toward `global_rate[j]` with `prior` pseudo-customers."""
    policy: OfferPolicy
    item_key: str
    model_name: str
    prior: float = COOCCURRENCE_PRIOR

    @classmethod
    def fit(
        cls,
        train_frame: pd.DataFrame,
        spec: ModelSpec,
        policy: OfferPolicy,
        *,
        prior: float = COOCCURRENCE_PRIOR,
    ) -> CooccurrenceBaseline:
        """Per training customer: the offers held (on their profile, before any offer), made and accepted."""
        item_key = _item_key(spec)
        catalogue = list(policy.offer_ids)
        customer = spec.features.join_key if spec.features is not None else spec.data.entity_key
        needed = [customer, item_key, spec.data.label, *sorted(policy.columns())]
        _require(train_frame, needed, spec, "the training frame")
        _check_offers(train_frame[item_key], catalogue, spec, "the training frame")
        if prior <= 0:
            raise InvalidInputError(f"co-occurrence baseline: prior must be positive, got {prior}")

        profiles = customer_profiles(train_frame, customer, spec.data.timestamp)
        held = policy.held(profiles).to_numpy(dtype=float)
        offers = train_frame[item_key].astype(str)
        accepted = train_frame[spec.data.label].astype(str) == spec.data.positive_label
        # An offer made twice to one customer counts once: accepted if either response was.
        offered_m = customer_offer_matrix(train_frame[customer], offers, None, profiles.index, catalogue)
        accepted_m = customer_offer_matrix(train_frame[customer], offers, accepted, profiles.index, catalogue)

        offered_n, accepted_n = offered_m.sum(axis=0), accepted_m.sum(axis=0)
        overall = accepted_n.sum() / offered_n.sum() if offered_n.sum() else 0.0
        global_rate = (accepted_n + prior * overall) / (offered_n + prior)
        conditional = (held.T @ accepted_m + prior * global_rate) / (held.T @ offered_m + prior)
        return cls(
            catalogue=tuple(catalogue),
            global_rate=global_rate,
            conditional_rate=conditional,
            policy=policy,
            item_key=item_key,
            model_name=spec.name,
            prior=prior,
        )

    def score(self, pairs: pd.DataFrame) -> np.ndarray:
        missing = [c for c in (self.item_key, *sorted(self.policy.columns())) if c not in pairs.columns]
        if missing:
            raise InvalidInputError(f"co-occurrence baseline: the candidate pairs lack columns {missing}")
        unknown = sorted(set(pairs[self.item_key].astype(str)) - set(self.catalogue))
        if unknown:
            raise InvalidInputError(
                f"co-occurrence baseline of model '{self.model_name}': offers {unknown[:10]} are not in "
                f"the catalogue it was fitted on ({', '.join(self.catalogue)})"
            )
        if len(pairs) == 0:
            return np.zeros(0)
        item = (
            pairs[self.item_key].astype(str).map({o: i for i, o in enumerate(self.catalogue)}).to_numpy(int)
        )
        held = self.policy.held(pairs).to_numpy(dtype=float)
        count = held.sum(axis=1)
        summed = np.einsum("ni,ni->n", held, self.conditional_rate[:, item].T)
        return np.where(count > 0, summed / np.maximum(count, 1.0), self.global_rate[item])


def customer_profiles(frame: pd.DataFrame, customer: str, timestamp: str) -> pd.DataFrame:
    """One row per customer, their earliest (the profile is the same on all their rows), indexed by the
    customer key, customers in key order."""
    ordered = frame.sort_values(timestamp, kind="mergesort") if timestamp in frame.columns else frame
    first = ordered.drop_duplicates(customer, keep="first")
    first = first.sort_values(customer, kind="mergesort")
    first.index = pd.Index(first[customer].to_numpy())
    return first


def customer_offer_matrix(
    customers: pd.Series,
    offers: pd.Series,
    where: pd.Series | None,
    index: pd.Index,
    catalogue: Sequence[str],
) -> np.ndarray:
    """customers x offers, 1.0 where some row (of those `where` selects) pairs them."""
    keep = np.ones(len(customers), dtype=bool) if where is None else where.to_numpy(dtype=bool)
    pairs = pd.DataFrame({"c": customers.to_numpy()[keep], "o": offers.to_numpy()[keep]}).drop_duplicates()
    out = np.zeros((len(index), len(catalogue)))
    rows = index.get_indexer(pairs["c"])
    cols = pd.Index(catalogue).get_indexer(pairs["o"])
    out[rows, cols] = 1.0
    return out
