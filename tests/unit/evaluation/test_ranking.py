"""Ranking evaluation of the next-best-offer model: metrics, baselines, bias by segment, model card."""

import json
import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from cxops.config import Settings
from cxops.data.generators import telco_subscribers
from cxops.data.loaders import coerce
from cxops.errors import InvalidInputError
from cxops.evaluation import (
    RANKING_BASELINE_WARNING,
    CooccurrenceBaseline,
    PopularityBaseline,
    evaluate_ranking,
    ranking_metrics,
    write_ranking_card,
)
from cxops.evaluation.ranking import RANKING_METRICS, top_k
from cxops.recommendation.candidates import with_offer_features
from cxops.recommendation.policy import load_offer_policy
from cxops.specs import load_model_code, load_spec

AS_OF = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def spec():
    return load_spec("recommendation")


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    return load_offer_policy(Settings(home=tmp_path_factory.mktemp("home")))


# -- metrics on hand-computed cases -------------------------------------------------------------------


def test_one_relevant_at_rank_two():
    m = ranking_metrics({"q": ["a", "b", "c"]}, {"q": {"b"}}, k=3, catalogue_size=5)
    assert m["hit_rate_at_k"] == 1.0
    assert m["hit_rate_at_1"] == 0.0
    assert m["ndcg_at_k"] == pytest.approx(1 / math.log2(3))
    assert m["map_at_k"] == pytest.approx(0.5)


def test_relevant_below_the_cut_off_scores_nothing():
    m = ranking_metrics({"q": ["a", "b", "c", "d"]}, {"q": {"d"}}, k=3, catalogue_size=5)
    assert (m["hit_rate_at_k"], m["ndcg_at_k"], m["map_at_k"], m["hit_rate_at_1"]) == (0.0, 0.0, 0.0, 0.0)


def test_two_relevant():
    m = ranking_metrics({"q": ["a", "b", "c"]}, {"q": {"a", "c"}}, k=3, catalogue_size=5)
    assert m["hit_rate_at_k"] == 1.0 and m["hit_rate_at_1"] == 1.0
    assert m["ndcg_at_k"] == pytest.approx((1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3)))
    assert m["map_at_k"] == pytest.approx((1 / 1 + 2 / 3) / 2)


def test_more_relevant_than_k_normalises_by_k():
    # Ideal DCG and AP normalise over min(|relevant|, k) = 2 positions, so a full top 2 is perfect.
    m = ranking_metrics({"q": ["a", "b", "c"]}, {"q": {"a", "b", "c", "d"}}, k=2, catalogue_size=4)
    assert m["ndcg_at_k"] == pytest.approx(1.0)
    assert m["map_at_k"] == pytest.approx(1.0)


def test_queries_without_acceptance_count_for_coverage_only():
    ranked = {"q1": ["a", "b", "x"], "q2": ["c", "d", "y"]}
    m = ranking_metrics(ranked, {"q1": {"b"}}, k=2, catalogue_size=8)
    assert m["queries"] == 2.0 and m["queries_with_acceptance"] == 1.0
    assert m["hit_rate_at_k"] == 1.0 and m["ndcg_at_k"] == pytest.approx(1 / math.log2(3))
    assert m["coverage_at_k"] == pytest.approx(4 / 8)  # a, b, c, d; x and y are below the cut-off
    assert set(RANKING_METRICS) <= set(m)


def test_metrics_are_means_over_queries():
    ranked = {"q1": ["a", "b"], "q2": ["a", "b"]}
    m = ranking_metrics(ranked, {"q1": {"a"}, "q2": {"c"}}, k=2, catalogue_size=3)
    assert m["hit_rate_at_k"] == 0.5 and m["ndcg_at_k"] == 0.5 and m["map_at_k"] == 0.5


def test_no_relevant_anywhere_gives_nan_not_zero():
    m = ranking_metrics({"q": ["a"]}, {}, k=1, catalogue_size=2)
    assert math.isnan(m["hit_rate_at_k"]) and m["coverage_at_k"] == 0.5


def test_top_k_breaks_ties_by_catalogue_order():
    catalogue = ["a", "b", "c", "d"]
    ranked = top_k(
        ["q1", "q1", "q1", "q1", "q2", "q2"],
        ["d", "c", "b", "a", "c", "a"],
        np.array([1.0, 1.0, 1.0, 2.0, 0.5, 0.5]),
        k=3,
        catalogue=catalogue,
    )
    assert ranked == {"q1": ["a", "b", "c"], "q2": ["a", "c"]}
    # Same pairs in another order: same answer.
    again = top_k(["q1"] * 4, ["b", "d", "a", "c"], np.array([1.0, 1.0, 2.0, 1.0]), k=3, catalogue=catalogue)
    assert again["q1"] == ["a", "b", "c"]


def test_top_k_rejects_unknown_items():
    with pytest.raises(InvalidInputError, match="not in the catalogue"):
        top_k(["q"], ["zz"], np.array([1.0]), k=1, catalogue=["a"])


# -- baselines on tiny frames -------------------------------------------------------------------------

_NOTHING = {  # holds no offer of the catalogue
    "PhoneService": "No",
    "MultipleLines": "No phone service",
    "InternetService": "No",
    "OnlineSecurity": "No internet service",
    "OnlineBackup": "No internet service",
    "DeviceProtection": "No internet service",
    "TechSupport": "No internet service",
    "StreamingTV": "No internet service",
    "StreamingMovies": "No internet service",
    "Contract": "Month-to-month",
}
_BASE = {  # holds phone_line and internet_dsl
    **_NOTHING,
    "PhoneService": "Yes",
    "MultipleLines": "No",
    "InternetService": "DSL",
    **{c: "No" for c in ("OnlineSecurity", "OnlineBackup", "DeviceProtection", "TechSupport")},
    "StreamingTV": "No",
    "StreamingMovies": "No",
}


def _responses(rows):
    """(customer, profile overrides, offer, accepted) -> response rows."""
    return pd.DataFrame(
        [
            {
                **_BASE,
                **profile,
                "customer_pid": who,
                "offer_id": offer,
                "response": "accepted" if ok else "declined",
                "event_timestamp": pd.Timestamp(AS_OF) + pd.Timedelta(hours=n),
            }
            for n, (who, profile, offer, ok) in enumerate(rows)
        ]
    )


TV = {"StreamingTV": "Yes"}
SECURITY = {"OnlineSecurity": "Yes"}
TRAIN = _responses(
    [
        ("c1", TV, "streaming_movies", True),
        ("c1", TV, "online_backup", False),
        ("c2", TV, "streaming_movies", True),
        ("c2", TV, "online_backup", False),
        ("c3", SECURITY, "streaming_movies", False),
        ("c3", SECURITY, "online_backup", True),
        ("c4", SECURITY, "streaming_movies", False),
        ("c4", SECURITY, "online_backup", True),
        ("c5", {}, "online_backup", False),
        ("c5", {}, "tech_support", True),
    ]
)


def test_popularity_counts_acceptances_and_breaks_ties_by_catalogue(spec, policy):
    base = PopularityBaseline.fit(TRAIN, spec, policy)
    assert base.acceptances["online_backup"] == 2 and base.acceptances["streaming_movies"] == 2
    assert base.acceptances["tech_support"] == 1 and base.acceptances["extra_line"] == 0
    ranking = base.ranking()
    # online_backup and streaming_movies tie at 2: the catalogue lists online_backup first.
    assert ranking[:3] == ["online_backup", "streaming_movies", "tech_support"]
    assert ranking[3:] == [o for o in policy.offer_ids if o not in ranking[:3]]
    scores = base.score(pd.DataFrame({"offer_id": ["tech_support", "online_backup", "extra_line"]}))
    assert scores.tolist() == [1.0, 2.0, 0.0]


def test_popularity_without_a_policy_uses_the_spec_catalogue(spec, policy):
    assert (
        PopularityBaseline.fit(TRAIN, spec).ranking() == PopularityBaseline.fit(TRAIN, spec, policy).ranking()
    )


def test_popularity_rejects_offers_outside_the_catalogue(spec, policy):
    bad = TRAIN.assign(offer_id=["gold_plan"] * len(TRAIN))
    with pytest.raises(InvalidInputError, match="gold_plan"):
        PopularityBaseline.fit(bad, spec, policy)


def test_cooccurrence_follows_what_similar_holders_accepted(spec, policy):
    base = CooccurrenceBaseline.fit(TRAIN, spec, policy, prior=2.0)
    # Offered streaming_movies: 4 customers, 2 accepted; online_backup: 5, 2; everything: 10, 5.
    overall = 5 / 10
    g_movies = (2 + 2 * overall) / (4 + 2)
    g_backup = (2 + 2 * overall) / (5 + 2)
    assert base.global_rate[policy.offer_ids.index("streaming_movies")] == pytest.approx(g_movies)

    pairs = pd.DataFrame(
        [
            {**_BASE, **TV, "offer_id": "streaming_movies"},
            {**_BASE, **TV, "offer_id": "online_backup"},
            {**_BASE, **SECURITY, "offer_id": "streaming_movies"},
            {**_BASE, **SECURITY, "offer_id": "online_backup"},
            {**_NOTHING, "offer_id": "streaming_movies"},
            {**_NOTHING, "offer_id": "online_backup"},
        ]
    )
    scores = base.score(pairs)
    # A TV holder holds phone_line, internet_dsl and streaming_tv. Among phone_line (and internet_dsl)
    # holders, streaming_movies was offered to c1-c4 and accepted by 2; among streaming_tv holders, 2 of 2.
    movies_for_tv = ((2 + 2 * g_movies) / 6 * 2 + (2 + 2 * g_movies) / 4) / 3
    backup_for_tv = ((2 + 2 * g_backup) / 7 * 2 + (0 + 2 * g_backup) / 4) / 3
    assert scores[0] == pytest.approx(movies_for_tv)
    assert scores[1] == pytest.approx(backup_for_tv)
    assert scores[0] > scores[1]  # TV holders took movies
    assert scores[3] > scores[2]  # security holders took backup
    # Holding nothing: the offer's global rate.
    assert scores[4] == pytest.approx(g_movies) and scores[5] == pytest.approx(g_backup)


def test_cooccurrence_needs_the_holding_columns(spec, policy):
    with pytest.raises(InvalidInputError, match="StreamingTV"):
        CooccurrenceBaseline.fit(TRAIN.drop(columns=["StreamingTV"]), spec, policy)


# -- end to end on synthetic responses ----------------------------------------------------------------


def _synthetic_responses(policy, n=500, seed=5):
    """Subscribers made up to three eligible offers each; acceptance depends on the offer and the
    customer (streaming_movies mostly for TV holders), so popularity is a fair but beatable baseline."""
    churn = load_spec("churn")
    raw = coerce(telco_subscribers(n, seed=seed, as_of=AS_OF), churn, require_label=False)
    subscribers = load_model_code("churn").derive_features(raw).reset_index(drop=True)
    rng = np.random.default_rng(seed)
    eligible = policy.eligible(subscribers, churn_probability=rng.random(len(subscribers)))
    rate = dict.fromkeys(policy.offer_ids, 0.05) | {
        "online_security": 0.5,
        "contract_one_year": 0.4,
        "loyalty_discount": 0.6,
        "streaming_movies": 0.1,
    }
    rows = []
    for i, customer in subscribers.iterrows():
        offers = [o for o in policy.offer_ids if eligible.at[i, o]]
        for n_offer, offer in enumerate(rng.choice(offers, size=min(3, len(offers)), replace=False)):
            p = rate[offer] + (0.6 if offer == "streaming_movies" and customer["StreamingTV"] == "Yes" else 0)
            rows.append(
                {
                    **customer.to_dict(),
                    "customer_pid": customer["customerID"],
                    "offer_id": offer,
                    "response": "accepted" if rng.random() < p else "declined",
                    "event_timestamp": pd.Timestamp(AS_OF) + pd.Timedelta(days=n_offer),
                }
            )
    return with_offer_features(pd.DataFrame(rows), policy)


@pytest.fixture(scope="module")
def frames(policy):
    frame = _synthetic_responses(policy)
    customers = frame["customer_pid"].unique()
    test = frame["customer_pid"].isin(customers[:150])
    return frame.loc[~test].reset_index(drop=True), frame.loc[test].reset_index(drop=True)


class TruthScorer:
    """Knows who accepted what: accepted offers first."""

    def __init__(self, test_frame):
        accepted = test_frame.loc[test_frame["response"] == "accepted"]
        self.accepted = set(zip(accepted["customer_pid"], accepted["offer_id"], strict=True))
        self.seen = []

    def score(self, pairs):
        self.seen.append(pairs)
        return np.array(
            [
                float((c, o) in self.accepted)
                for c, o in zip(pairs["customer_pid"], pairs["offer_id"], strict=True)
            ]
        )


class RandomScorer:
    def score(self, pairs):
        return np.random.default_rng(0).random(len(pairs))


@pytest.fixture(scope="module")
def truth_report(frames, spec, policy):
    train, test = frames
    scorer = TruthScorer(test)
    return evaluate_ranking(scorer, test, train, spec, policy), scorer


@pytest.fixture(scope="module")
def random_report(frames, spec, policy):
    train, test = frames
    return evaluate_ranking(RandomScorer(), test, train, spec, policy)


def test_a_scorer_that_knows_the_truth_is_perfect_and_beats_the_baselines(truth_report, frames, spec):
    report, scorer = truth_report
    _, test = frames
    m = report.metrics
    assert m["hit_rate_at_k"] == 1.0 and m["ndcg_at_k"] == pytest.approx(1.0) and m["hit_rate_at_1"] == 1.0
    assert m["queries"] == test["customer_pid"].nunique()
    accepting = test.loc[test["response"] == "accepted", "customer_pid"].nunique()
    assert m["queries_with_acceptance"] == accepting < m["queries"]
    assert m["beats_baselines"] == 1.0 and report.beats_baselines and not report.warnings
    for base in ("popularity", "cooccurrence"):
        assert 0 < m[f"{base}_ndcg_at_k"] < m["ndcg_at_k"]
        assert m[f"lift_over_{base}"] == pytest.approx(m["ndcg_at_k"] / m[f"{base}_ndcg_at_k"])
    assert report.k == spec.recommendation.k == m["k"]
    assert report.passed and [c.metric for c in report.checks] == list(spec.evaluation.thresholds)
    # The model never sees the response.
    assert all(spec.data.label not in pairs.columns for pairs in scorer.seen)
    json.dumps(report.to_dict(), allow_nan=False)


def test_offers_made_are_candidates_so_retention_offers_are_rankable(truth_report, frames, policy):
    report, scorer = truth_report
    _, test = frames
    retention = {o.id for o in policy.offers if o.kind == "retention"}
    only_retention = [
        who
        for who, rows in test.loc[test["response"] == "accepted"].groupby("customer_pid")
        if set(rows["offer_id"]) <= retention
    ]
    assert only_retention, "the synthetic frame must hold customers who accepted only a retention offer"
    pairs = scorer.seen[0]
    for who in only_retention:
        assert set(pairs.loc[pairs["customer_pid"] == who, "offer_id"]) & retention
    # ... while retention offers never made to a customer are not candidates (no churn score here).
    made = set(zip(test["customer_pid"], test["offer_id"], strict=True))
    offered_retention = pairs.loc[pairs["offer_id"].isin(retention)]
    assert all(
        (c, o) in made
        for c, o in zip(offered_retention["customer_pid"], offered_retention["offer_id"], strict=True)
    )


def test_a_random_scorer_does_not_beat_the_baselines(random_report, truth_report):
    m = random_report.metrics
    assert m["hit_rate_at_k"] < 1.0
    assert m["beats_baselines"] == 0.0 and not random_report.beats_baselines
    assert random_report.warnings and random_report.warnings[0].startswith(RANKING_BASELINE_WARNING)
    assert not random_report.passed  # lift_over_popularity >= 1.0 fails
    assert "lift_over_popularity" in [c.metric for c in random_report.failed_checks]
    # Baselines do not depend on the scorer.
    truth = truth_report[0].metrics
    assert m["popularity_ndcg_at_k"] == truth["popularity_ndcg_at_k"]
    assert m["cooccurrence_hit_rate_at_k"] == truth["cooccurrence_hit_rate_at_k"]


def test_hit_rate_by_segment_and_the_gap(frames, spec, policy):
    train, test = frames
    truth = TruthScorer(test)

    class FemaleOnly:
        """Right for women, backwards for men."""

        def score(self, pairs):
            right = truth.score(pairs)
            return np.where(pairs["gender"].to_numpy() == "Female", right, -right)

    report = evaluate_ranking(FemaleOnly(), test, train, spec, policy)
    rows = [r for r in report.segments if r["segment"] == "gender"]
    assert {r["value"] for r in rows} == {"Female", "Male"}
    assert sum(r["queries"] for r in rows) == report.metrics["queries_with_acceptance"]
    by = {r["value"]: r for r in rows}
    assert by["Female"]["hit_rate_at_k"] == 1.0 and by["Male"]["hit_rate_at_k"] < 1.0
    assert report.metrics["hit_rate_at_k[gender=Male]"] == by["Male"]["hit_rate_at_k"]
    gap = report.metrics["hit_rate_gap[gender]"]
    assert gap == pytest.approx(1.0 - by["Male"]["hit_rate_at_k"]) and report.segment_gaps()["gender"] == gap
    assert {r["value"] for r in report.segments if r["segment"] == "SeniorCitizen"} == {"0", "1"}
    for r in rows:
        assert 0 <= r["popularity_hit_rate_at_k"] <= 1 and 0 <= r["cooccurrence_hit_rate_at_k"] <= 1


def test_predictions_file_holds_one_row_per_query_with_an_acceptance(random_report, spec, frames, tmp_path):
    from cxops.governance.bias import bias_gaps

    report = random_report
    path = report.write_predictions(tmp_path)
    assert pq.read_schema(path).names == ["hit", "ndcg", *spec.evaluation.bias_segments]
    saved = pd.read_parquet(path)
    m = report.metrics
    assert len(saved) == m["queries_with_acceptance"]
    assert saved["hit"].mean() == pytest.approx(m["hit_rate_at_k"]) and 0 < m["hit_rate_at_k"] < 1
    assert saved["ndcg"].mean() == pytest.approx(m["ndcg_at_k"])
    rows = {r["value"]: r for r in report.segments if r["segment"] == "gender"}
    assert saved["gender"].value_counts().to_dict() == {v: r["queries"] for v, r in rows.items()}
    assert not set(saved.astype(str).to_numpy().ravel()) & set(frames[1]["customer_pid"])
    gap = bias_gaps(saved, report.task, ["gender"], min_group_rows=1)[0]
    assert gap.value == pytest.approx(report.segment_gaps()["gender"])


def test_top_offers_count_the_model_top_k(truth_report, policy):
    report, _ = truth_report
    counts = [o["count"] for o in report.top_offers]
    assert counts == sorted(counts, reverse=True)
    assert sum(counts) <= report.k * report.metrics["queries"]
    assert {o["offer_id"] for o in report.top_offers} <= set(policy.offer_ids)
    first = report.top_offers[0]
    assert first["share_of_queries"] == pytest.approx(first["count"] / report.metrics["queries"])


def _with_thresholds(spec, thresholds):
    return spec.model_copy(
        update={"evaluation": spec.evaluation.model_copy(update={"thresholds": thresholds})}
    )


def test_threshold_failures(frames, spec, policy):
    train, test = frames
    strict = _with_thresholds(spec, {"hit_rate_at_k": 1.01, "ndcg_at_k": 0.1, "hit_rate_gap[gender]": 0.5})
    report = evaluate_ranking(TruthScorer(test), test, train, strict, policy)
    assert not report.passed
    assert [c.metric for c in report.failed_checks] == ["hit_rate_at_k"]
    gap_check = next(c for c in report.checks if c.metric == "hit_rate_gap[gender]")
    assert gap_check.direction == "max" and gap_check.passed


def test_a_threshold_on_an_unknown_metric_is_an_error(frames, spec, policy):
    train, test = frames
    with pytest.raises(InvalidInputError, match="roc_auc"):
        evaluate_ranking(TruthScorer(test), test, train, _with_thresholds(spec, {"roc_auc": 0.7}), policy)


def test_bad_inputs_are_refused(frames, spec, policy):
    train, test = frames

    class Short:
        def score(self, pairs):
            return np.zeros(len(pairs) - 1)

    with pytest.raises(InvalidInputError, match="one per pair"):
        evaluate_ranking(Short(), test, train, spec, policy)
    with pytest.raises(InvalidInputError, match="tenure"):
        evaluate_ranking(RandomScorer(), test.drop(columns=["tenure"]), train, spec, policy)
    with pytest.raises(InvalidInputError, match="both the training and the test"):
        evaluate_ranking(RandomScorer(), test, pd.concat([train, test.iloc[:3]]), spec, policy)
    with pytest.raises(InvalidInputError, match="no test customer accepted"):
        evaluate_ranking(RandomScorer(), test.assign(response="declined"), train, spec, policy)


# -- the model card -----------------------------------------------------------------------------------

TRAINING = {"rows": {"train": 900, "validation": 200}, "best_iteration": 41, "durations": {"fit": 3.21}}


def test_card_files_and_content(truth_report, random_report, spec, tmp_path):
    good = write_ranking_card(truth_report[0], spec, tmp_path / "good", TRAINING, version=3)
    assert [p.name for p in good.all()] == ["model_card.md", "model_card.html", "metrics.json"]
    assert all(p.is_file() for p in good.all())
    md = good.markdown.read_text()
    for row in ("| Model |", "| Popularity baseline |", "| Co-occurrence baseline |"):
        assert row in md
    assert "NDCG@3" in md and "MAP@3" in md and "coverage@3" in md
    assert RANKING_BASELINE_WARNING not in md
    assert spec.owner.name in md and spec.team in md and "Out of scope." in md
    assert "version 2026.1" in md  # the offer policy's
    assert "| Best iteration | 41 |" in md and "fit 3.2" in md
    assert "### gender" in md and "Largest gap between groups (model)" in md
    assert truth_report[0].top_offers[0]["offer_id"] in md
    saved = json.loads(good.metrics_json.read_text())
    assert saved["evaluation"]["metrics"]["hit_rate_at_k"] == 1.0 and saved["version"] == 3
    assert saved["training"]["best_iteration"] == 41

    bad = write_ranking_card(random_report, spec, tmp_path / "bad", {})
    for path in (bad.markdown, bad.html):
        text = path.read_text()
        assert RANKING_BASELINE_WARNING in text and "FAILED" in text
    assert "## Training" not in bad.markdown.read_text()


def test_card_html_escapes_text(truth_report, spec, tmp_path):
    hostile = spec.model_copy(update={"purpose": "Rank <script>alert(1)</script> & more"})
    files = write_ranking_card(truth_report[0], hostile, tmp_path, {"note": "<b>x</b>"})
    html = files.html.read_text()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html
