"""Evaluate a next-best-offer ranker on held-out customers: ranking metrics, two baselines, bias by segment.

Protocol (`evaluate_ranking`):

- One query per test customer. Their profile is their first row (the profile is the same on all their
  rows); the offers they accepted are the relevant items.
- Candidates are the offers the policy allows on that profile (`OfferPolicy.eligible`, without a churn
  probability) plus every offer actually made to them: an offer that was made was eligible then, and
  this keeps retention offers, which need a churn score, rankable. Pairs come from `candidate_pairs`.
- The model, the popularity baseline and the co-occurrence baseline (both fitted on the training rows
  only) score the same pairs; each query's candidates are sorted by score, ties in catalogue order.
- Metrics at k = `spec.recommendation.k`, averaged over the queries with at least one acceptance
  (the others count for coverage only): hit rate (a relevant offer in the top k), NDCG (binary
  relevance, ideal DCG over min(|relevant|, k) positions), MAP (AP@k normalised by min(|relevant|, k)),
  hit rate at 1; coverage is the share of the catalogue that appears in some top k, over all queries.
- Hit rate is also measured per group of each bias segment, for the model and both baselines; the gap
  is the largest difference between the model's groups.

`metrics` is flat (floats): model metrics unprefixed, baselines prefixed `popularity_` and
`cooccurrence_`, `lift_over_popularity` (model NDCG@k / popularity NDCG@k), `beats_baselines` (1.0 when
the model's NDCG@k is above both baselines'), query counts, `hit_rate_at_k[<segment>=<value>]` and
`hit_rate_gap[<segment>]`. Release thresholds of the spec are minimums, except on gaps (maximums).

`predictions` holds one row per test customer with an acceptance (the queries the means run over):
the model's `hit` (0/1, as in HR@k) and `ndcg` (NDCG@k), and each bias segment as strings.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd

from cxops.errors import InvalidInputError
from cxops.evaluation._ranking_baselines import (
    COOCCURRENCE_PRIOR,
    CooccurrenceBaseline,
    PopularityBaseline,
    customer_offer_matrix,
    customer_profiles,
)
from cxops.evaluation._ranking_card import RANKING_BASELINE_WARNING, write_ranking_card
from cxops.evaluation.report import ThresholdCheck, _Checked, _json_safe, _segment_values
from cxops.recommendation.candidates import OFFER_FEATURES, QUERY, candidate_pairs
from cxops.recommendation.policy import OfferPolicy
from cxops.specs import ModelSpec

__all__ = [
    "BASELINES",
    "COOCCURRENCE_PRIOR",
    "RANKING_BASELINE_WARNING",
    "RANKING_METRICS",
    "CooccurrenceBaseline",
    "PairScorer",
    "PopularityBaseline",
    "RankingReport",
    "evaluate_ranking",
    "ranking_metrics",
    "top_k",
    "write_ranking_card",
]

RANKING_METRICS = ("hit_rate_at_k", "hit_rate_at_1", "ndcg_at_k", "map_at_k", "coverage_at_k")
"""What `ranking_metrics` returns for one ranker (besides query counts)."""
BASELINES = ("popularity", "cooccurrence")
"""Metric-key prefixes of the baselines, in the order the card shows them."""
_GAP_PREFIX = "hit_rate_gap["


class PairScorer(Protocol):
    def score(self, pairs: pd.DataFrame) -> np.ndarray:
        """One score per candidate pair; higher means more likely accepted."""
        ...


# -- metrics ------------------------------------------------------------------------------------------


def top_k(
    queries: Sequence[Hashable],
    items: Sequence[str],
    scores: np.ndarray,
    k: int,
    catalogue: Sequence[str],
) -> dict[Hashable, list[str]]:
    """Each query's k best items by score; ties go to the item earlier in `catalogue`.

    `queries`, `items` and `scores` are aligned, one entry per candidate pair. Queries appear in the
    result in their order of first appearance.
    """
    scores = np.asarray(scores, dtype=float)
    if not (len(queries) == len(items) == len(scores)):
        raise InvalidInputError(
            f"top_k: {len(queries)} queries, {len(items)} items and {len(scores)} scores; they must align"
        )
    position = {item: i for i, item in enumerate(catalogue)}
    unknown = sorted({str(i) for i in items} - set(position))
    if unknown:
        raise InvalidInputError(
            f"top_k: items {unknown[:10]} are not in the catalogue; add them or drop them"
        )
    frame = pd.DataFrame(
        {
            "query": list(queries),
            "item": list(items),
            "score": scores,
            "position": [position[str(i)] for i in items],
        }
    )
    order = {q: n for n, q in enumerate(dict.fromkeys(frame["query"]))}
    frame["first_seen"] = frame["query"].map(order)
    frame = frame.sort_values(
        ["first_seen", "score", "position"], ascending=[True, False, True], kind="mergesort"
    )
    best = frame.groupby("first_seen", sort=True).head(k)
    ranked: dict[Hashable, list[str]] = {q: [] for q in order}
    for query, item in zip(best["query"], best["item"], strict=True):
        ranked[query].append(str(item))
    return ranked


def _query_metrics(ranked: Sequence[str], relevant: set[str], k: int) -> tuple[float, float, float, float]:
    """(hit@k, hit@1, NDCG@k, AP@k) of one query with at least one relevant item."""
    hits = [item in relevant for item in ranked[:k]]
    ideal = min(len(relevant), k)
    dcg = sum(1.0 / math.log2(rank + 2) for rank, hit in enumerate(hits) if hit)
    idcg = sum(1.0 / math.log2(rank + 2) for rank in range(ideal))
    found, precision_sum = 0, 0.0
    for rank, hit in enumerate(hits):
        if hit:
            found += 1
            precision_sum += found / (rank + 1)
    return float(any(hits)), float(bool(hits) and hits[0]), dcg / idcg, precision_sum / ideal


def ranking_metrics(
    ranked: Mapping[Hashable, Sequence[str]],
    relevant: Mapping[Hashable, set[str]],
    k: int,
    catalogue_size: int,
) -> dict[str, float]:
    """HR@k, HR@1, NDCG@k, MAP@k over the queries with a relevant item; coverage@k over all queries.

    `ranked`: each query's items, best first (only the first k count). `relevant`: each query's
    relevant items (a query missing here has none). Means are NaN when no query has a relevant item.
    """
    if k < 1 or catalogue_size < 1:
        raise InvalidInputError(
            f"ranking metrics need k >= 1 and a catalogue; got k={k}, size {catalogue_size}"
        )
    per_query = [_query_metrics(ranked[q], set(relevant[q]), k) for q in ranked if relevant.get(q)]
    means = np.asarray(per_query, dtype=float).mean(axis=0) if per_query else np.full(4, np.nan)
    shown = {item for items in ranked.values() for item in items[:k]}
    return {
        "hit_rate_at_k": float(means[0]),
        "hit_rate_at_1": float(means[1]),
        "ndcg_at_k": float(means[2]),
        "map_at_k": float(means[3]),
        "coverage_at_k": len(shown) / catalogue_size,
        "queries": float(len(ranked)),
        "queries_with_acceptance": float(len(per_query)),
    }


# -- the report ---------------------------------------------------------------------------------------


@dataclass
class RankingReport(_Checked):
    """A ranker on held-out customers, beside the popularity and co-occurrence baselines.

    `passed` is about the spec's thresholds only; not beating the baselines is carried in
    `beats_baselines` and `warnings`, for the reviewer to weigh.
    """

    model_name: str
    k: int
    metrics: dict[str, float]
    segments: list[dict[str, Any]]
    """One row per (segment, value): `segment`, `value`, `queries` (with an acceptance),
    `hit_rate_at_k`, `popularity_hit_rate_at_k`, `cooccurrence_hit_rate_at_k`."""
    checks: list[ThresholdCheck]
    top_offers: list[dict[str, Any]]
    """Offers by how often the model puts them in a top k: `offer_id`, `name`, `kind`, `count`,
    `share_of_queries`."""
    policy_version: str
    catalogue_size: int
    unmeasured_segments: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    evaluated_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    predictions: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    """One row per test customer with an acceptance: `hit` (0/1), `ndcg` and each bias segment as
    strings (no customer key)."""
    task = "recommendation"

    @property
    def beats_baselines(self) -> bool:
        return bool(self.metrics.get("beats_baselines", 0.0))

    def segment_gaps(self) -> dict[str, float]:
        """The model's hit-rate gap per bias segment."""
        return {
            key[len(_GAP_PREFIX) : -1]: value
            for key, value in self.metrics.items()
            if key.startswith(_GAP_PREFIX)
        }

    def to_dict(self) -> dict[str, Any]:
        return _json_safe(
            {
                "model_name": self.model_name,
                "task": self.task,
                "evaluated_at": self.evaluated_at,
                "k": self.k,
                "passed": self.passed,
                "beats_baselines": self.beats_baselines,
                "warnings": list(self.warnings),
                "policy_version": self.policy_version,
                "catalogue_size": self.catalogue_size,
                "metrics": self.metrics,
                "checks": [c.to_dict() for c in self.checks],
                "segments": self.segments,
                "segment_gaps": self.segment_gaps(),
                "unmeasured_segments": dict(self.unmeasured_segments),
                "top_offers": self.top_offers,
            }
        )


# -- evaluation ---------------------------------------------------------------------------------------


def evaluate_ranking(
    scorer: PairScorer,
    test_frame: pd.DataFrame,
    train_frame: pd.DataFrame,
    spec: ModelSpec,
    policy: OfferPolicy,
) -> RankingReport:
    """Rank every test customer's candidates with the model and both baselines; see the module docstring."""
    if spec.recommendation is None or spec.features is None:
        raise InvalidInputError(f"model '{spec.name}' is not a recommendation model (task {spec.task!r})")
    item_key, k = spec.recommendation.item_key, spec.recommendation.k
    customer, label = spec.features.join_key, spec.data.label
    # Offer features come from the catalogue (`candidate_pairs`), not from the test rows.
    needed = [
        customer,
        item_key,
        label,
        *(c for c in spec.features.names if c not in (item_key, *OFFER_FEATURES)),
    ]
    missing = [c for c in dict.fromkeys(needed) if c not in test_frame.columns]
    if missing:
        raise InvalidInputError(
            f"model '{spec.name}': the test frame lacks columns {missing}; it needs the customer key "
            f"'{customer}', the offer '{item_key}', the response '{label}' and the model inputs"
        )
    if len(test_frame) == 0:
        raise InvalidInputError(f"model '{spec.name}': the test frame has no rows")
    if test_frame[label].isna().any():
        raise InvalidInputError(
            f"model '{spec.name}': {int(test_frame[label].isna().sum())} test rows have no response "
            f"('{label}'); drop them before evaluating"
        )
    catalogue = list(policy.offer_ids)
    unknown = sorted(set(test_frame[item_key].astype(str)) - set(catalogue))
    if unknown:
        raise InvalidInputError(
            f"model '{spec.name}': the test frame names offers outside policies/offers.yaml (version "
            f"{policy.version}): {unknown[:10]}"
        )

    if customer in train_frame.columns:
        shared = set(test_frame[customer]) & set(train_frame[customer])
        if shared:
            raise InvalidInputError(
                f"model '{spec.name}': {len(shared)} customers ('{customer}') are in both the training and "
                "the test frame; split by customer so that no customer's responses are in both"
            )
    profiles = customer_profiles(test_frame, customer, spec.data.timestamp)
    made = _by_customer(test_frame, customer, item_key, None, profiles.index, catalogue)
    accepted_rows = test_frame[label].astype(str) == spec.data.positive_label
    accepted = _by_customer(test_frame, customer, item_key, accepted_rows, profiles.index, catalogue)
    allowed = policy.eligible(profiles) | made
    # The response of the profile row is not a feature: keep it out of what the scorers see.
    pairs = candidate_pairs(profiles.drop(columns=[label]), allowed, policy, item_key)

    offers = np.asarray(catalogue, dtype=object)
    relevant = {q: set(offers[row]) for q, row in zip(profiles.index, accepted.to_numpy(), strict=True)}
    if not any(relevant.values()):
        raise InvalidInputError(
            f"model '{spec.name}': no test customer accepted an offer ('{label}' == "
            f"'{spec.data.positive_label}'), so ranking metrics are undefined; use a larger test split"
        )

    scorers: dict[str, PairScorer] = {
        "": scorer,
        "popularity": PopularityBaseline.fit(train_frame, spec, policy),
        "cooccurrence": CooccurrenceBaseline.fit(train_frame, spec, policy),
    }
    ranked: dict[str, dict[Hashable, list[str]]] = {}
    metrics: dict[str, float] = {}
    for name, each in scorers.items():
        scores = _scores(each, pairs, spec, name or "the model")
        ranked[name] = top_k(
            pairs[QUERY].tolist(), pairs[item_key].astype(str).tolist(), scores, k, catalogue
        )
        prefix = f"{name}_" if name else ""
        scored = ranking_metrics(ranked[name], relevant, k, len(catalogue))
        metrics.update({f"{prefix}{m}": scored[m] for m in RANKING_METRICS})
        if not name:
            metrics["queries"] = scored["queries"]
            metrics["queries_with_acceptance"] = scored["queries_with_acceptance"]
    metrics["k"] = float(k)
    metrics["mean_candidates"] = float(len(pairs) / len(profiles))
    for base in BASELINES:
        metrics[f"lift_over_{base}"] = _ratio(metrics["ndcg_at_k"], metrics[f"{base}_ndcg_at_k"])
    beats = all(metrics["ndcg_at_k"] > metrics[f"{base}_ndcg_at_k"] for base in BASELINES)
    metrics["beats_baselines"] = 1.0 if beats else 0.0

    segments, unmeasured = _segments(test_frame, profiles, spec, ranked, relevant, k)
    for row in segments:
        metrics[f"hit_rate_at_k[{row['segment']}={row['value']}]"] = row["hit_rate_at_k"]
    for name in dict.fromkeys(row["segment"] for row in segments):
        rates = [
            r["hit_rate_at_k"] for r in segments if r["segment"] == name and math.isfinite(r["hit_rate_at_k"])
        ]
        metrics[f"{_GAP_PREFIX}{name}]"] = float(max(rates) - min(rates)) if rates else float("nan")

    warnings = []
    if not beats:
        warnings.append(
            f"{RANKING_BASELINE_WARNING}: NDCG@{k} {metrics['ndcg_at_k']:.3f} against popularity "
            f"{metrics['popularity_ndcg_at_k']:.3f} and co-occurrence "
            f"{metrics['cooccurrence_ndcg_at_k']:.3f} "
            f"(HR@{k} {metrics['hit_rate_at_k']:.3f} against {metrics['popularity_hit_rate_at_k']:.3f} and "
            f"{metrics['cooccurrence_hit_rate_at_k']:.3f}). A ranking without a model does as well; review "
            "before promoting."
        )
    return RankingReport(
        model_name=spec.name,
        k=k,
        metrics=metrics,
        segments=segments,
        checks=_check(metrics, spec),
        top_offers=_top_offers(ranked[""], policy, len(profiles)),
        policy_version=policy.version,
        catalogue_size=len(catalogue),
        unmeasured_segments=unmeasured,
        warnings=warnings,
        predictions=_predictions(profiles, ranked[""], relevant, k, spec.evaluation.bias_segments),
    )


def _predictions(
    profiles: pd.DataFrame,
    ranked: Mapping[Hashable, Sequence[str]],
    relevant: Mapping[Hashable, set[str]],
    k: int,
    segments: list[str],
) -> pd.DataFrame:
    """The model's hit and NDCG per query with an acceptance, with its segments; the key stays out."""
    measured = np.asarray([bool(relevant[q]) for q in profiles.index])
    scored = [_query_metrics(ranked[q], relevant[q], k) for q in profiles.index[measured]]
    return pd.DataFrame(
        {
            "hit": np.asarray([s[0] for s in scored], dtype=np.int8),
            "ndcg": np.asarray([s[2] for s in scored], dtype=float),
            **_segment_values(profiles.loc[measured], segments),
        }
    )


def _by_customer(
    frame: pd.DataFrame,
    customer: str,
    item_key: str,
    where: pd.Series | None,
    index: pd.Index,
    catalogue: list[str],
) -> pd.DataFrame:
    matrix = customer_offer_matrix(frame[customer], frame[item_key].astype(str), where, index, catalogue)
    return pd.DataFrame(matrix.astype(bool), index=index, columns=catalogue)


def _scores(scorer: PairScorer, pairs: pd.DataFrame, spec: ModelSpec, who: str) -> np.ndarray:
    scores = np.asarray(scorer.score(pairs), dtype=float).reshape(-1)
    if len(scores) != len(pairs):
        raise InvalidInputError(
            f"model '{spec.name}': {who} returned {len(scores)} scores for {len(pairs)} candidate pairs; "
            "score() must return one per pair"
        )
    if not np.isfinite(scores).all():
        raise InvalidInputError(
            f"model '{spec.name}': {who} returned {int((~np.isfinite(scores)).sum())} non-finite scores; "
            "every candidate pair needs a number"
        )
    return scores


def _ratio(value: float, base: float) -> float:
    if not (math.isfinite(value) and math.isfinite(base)):
        return float("nan")
    if base == 0:
        return float("inf") if value > 0 else float("nan")
    return value / base


def _segments(
    test_frame: pd.DataFrame,
    profiles: pd.DataFrame,
    spec: ModelSpec,
    ranked: Mapping[str, Mapping[Hashable, Sequence[str]]],
    relevant: Mapping[Hashable, set[str]],
    k: int,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Hit rate per group of each bias segment, for the model and both baselines."""
    rows, unmeasured = [], {}
    for name in spec.evaluation.bias_segments:
        if name not in test_frame.columns:
            unmeasured[name] = "the test rows have no such column"
            continue
        if test_frame[name].isna().all():
            unmeasured[name] = "the column is empty in the test rows"
            continue
        groups = profiles[name].astype("string").fillna("(missing)")
        for value in sorted(groups.unique()):
            members = [q for q in profiles.index[groups.to_numpy() == value] if relevant[q]]
            row: dict[str, Any] = {"segment": name, "value": str(value), "queries": len(members)}
            for scorer in ("", *BASELINES):
                hits = [any(item in relevant[q] for item in ranked[scorer][q][:k]) for q in members]
                key = f"{scorer}_hit_rate_at_k" if scorer else "hit_rate_at_k"
                row[key] = float(np.mean(hits)) if hits else float("nan")
            rows.append(row)
    return rows, unmeasured


def _check(metrics: dict[str, float], spec: ModelSpec) -> list[ThresholdCheck]:
    unknown = [m for m in spec.evaluation.thresholds if m not in metrics]
    if unknown:
        known = [m for m in metrics if "[" not in m]
        raise InvalidInputError(
            f"model '{spec.name}': evaluation.thresholds names metrics the ranking evaluation does not "
            f"compute: {unknown}; known: {', '.join(known)} and the per-segment keys "
            f"hit_rate_at_k[<segment>=<value>], hit_rate_gap[<segment>]; fix models/{spec.name}/spec.yaml"
        )
    checks = []
    for metric, bound in spec.evaluation.thresholds.items():
        value = metrics[metric]
        direction = "max" if metric.startswith(_GAP_PREFIX) else "min"
        if math.isnan(value):
            checks.append(ThresholdCheck(metric, float(bound), direction, None, False))
            continue
        passed = value <= bound if direction == "max" else value >= bound
        checks.append(ThresholdCheck(metric, float(bound), direction, float(value), bool(passed)))
    return checks


def _top_offers(
    ranked: Mapping[Hashable, Sequence[str]], policy: OfferPolicy, queries: int
) -> list[dict[str, Any]]:
    counts = Counter(item for items in ranked.values() for item in items)
    order = {o: i for i, o in enumerate(policy.offer_ids)}
    return [
        {
            "offer_id": offer,
            "name": policy.offer(offer).name,
            "kind": policy.offer(offer).kind,
            "count": count,
            "share_of_queries": count / queries,
        }
        for offer, count in sorted(counts.items(), key=lambda kv: (-kv[1], order[kv[0]]))
    ]
