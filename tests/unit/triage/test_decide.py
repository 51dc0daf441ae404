"""The triage decision, case by case: the product's policy (policies/triage.yaml), then the combination
semantics on a small policy written for the purpose."""

from __future__ import annotations

import pytest

from cxops.triage.decide import Decision, Prediction, Signals, decide, matches
from cxops.triage.policy import Conditions, TriagePolicy, load_policy


@pytest.fixture(scope="module")
def policy() -> TriagePolicy:
    return load_policy()


def signals(
    intent: str | None = "billing_question",
    sentiment: str | None = "neutral",
    *,
    intent_conf: float = 0.9,
    sentiment_conf: float = 0.9,
    channel: str | None = None,
    churn: float | None = None,
    churn_status: str | None = None,
    unavailable: dict[str, str] | None = None,
) -> Signals:
    return Signals(
        intent=Prediction(intent, intent_conf) if intent else None,
        sentiment=Prediction(sentiment, sentiment_conf) if sentiment else None,
        channel=channel,
        churn_probability=churn,
        churn_status=churn_status or ("scored" if churn is not None else "not_requested"),
        unavailable=unavailable or {},
    )


# (case, signals, queue, priority, escalate, matched rules)
CASES = [
    ("plain billing question", signals(), "billing", "normal", False, ()),
    ("calm cancellation", signals("cancellation", "positive"), "retention", "normal", False, ()),
    (
        "angry cancellation",
        signals("cancellation", "negative"),
        "retention",
        "high",
        True,
        ("angry_cancellation",),
    ),
    (
        "angry cancellation, likely churner: one level up",
        signals("cancellation", "negative", churn=0.7),
        "retention",
        "urgent",
        True,
        ("angry_cancellation", "likely_churner"),
    ),
    (
        "outage with frustration",
        signals("network_outage", "negative"),
        "technical_urgent",
        "urgent",
        True,
        ("outage_with_frustration",),
    ),
    (
        "outage, frustrated churner: urgent is the ceiling",
        signals("network_outage", "negative", churn=0.95),
        "technical_urgent",
        "urgent",
        True,
        ("outage_with_frustration", "likely_churner"),
    ),
    ("calm outage report", signals("network_outage", "neutral"), "technical_support", "normal", False, ()),
    (
        "uncertain intent goes to a person",
        signals("billing_question", intent_conf=0.3),
        "human_review",
        "normal",
        True,
        ("uncertain_intent",),
    ),
    (
        "confidence exactly at the threshold is not uncertain",
        signals(intent_conf=0.5),
        "billing",
        "normal",
        False,
        (),
    ),
    (
        "uncertain angry cancellation: a person picks the queue, the rule still sets priority",
        signals("cancellation", "negative", intent_conf=0.4),
        "human_review",
        "high",
        True,
        ("uncertain_intent", "angry_cancellation"),
    ),
    ("churn at 0.5 raises one level", signals(churn=0.5), "billing", "high", False, ("likely_churner",)),
    ("churn just below 0.5 does not", signals(churn=0.49), "billing", "normal", False, ()),
    (
        "negative message on social media",
        signals("plan_change", "negative", channel="social"),
        "sales",
        "high",
        False,
        ("public_complaint",),
    ),
    (
        "negative chat message is no public complaint",
        signals("plan_change", "negative", channel="chat"),
        "sales",
        "normal",
        False,
        (),
    ),
    (
        "public complaint by a likely churner",
        signals("roaming", "negative", channel="social", churn=0.8),
        "general_support",
        "urgent",
        False,
        ("public_complaint", "likely_churner"),
    ),
]


@pytest.mark.parametrize(
    ("signal", "queue", "priority", "escalate", "rules"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_policy_decides(policy, signal, queue, priority, escalate, rules):
    decision = decide(policy, signal)
    assert (decision.queue, decision.priority, decision.escalate, decision.matched_rules) == (
        queue,
        priority,
        escalate,
        rules,
    )
    reasons_by_rule = {rule.name: rule.then.reason for rule in policy.rules}
    for rule in rules:
        assert reasons_by_rule[rule] in decision.reasons


def test_every_decision_explains_its_queue(policy):
    decision = decide(policy, signals("password_reset"))
    assert decision.reasons == ("'account_access' is the queue for intent 'password_reset'",)


def test_sentiment_unavailable_routes_to_human_review(policy):
    decision = decide(
        policy, signals("network_outage", None, unavailable={"sentiment": "timed out after 2 s"})
    )
    # The outage rule needs a sentiment: a missing signal never triggers a rule.
    assert decision == Decision(
        queue="human_review",
        priority="normal",
        escalate=True,
        reasons=(
            "the sentiment model could not be reached (timed out after 2 s); a person reviews the message",
        ),
        matched_rules=(),
    )


def test_intent_unavailable_still_applies_rules_that_need_no_intent(policy):
    decision = decide(
        policy, signals(None, "negative", channel="social", churn=0.9, unavailable={"intent": "unreachable"})
    )
    assert decision.queue == "human_review" and decision.escalate
    assert decision.priority == "urgent"  # public complaint (high) raised one level by the churn risk
    assert decision.matched_rules == ("public_complaint", "likely_churner")
    assert decision.reasons[0].startswith("the intent model could not be reached (unreachable)")


def test_both_text_models_unavailable(policy):
    decision = decide(
        policy, signals(None, None, unavailable={"intent": "unreachable", "sentiment": "answered HTTP 503"})
    )
    assert decision.queue == "human_review" and decision.escalate
    assert [r.split(" (")[0] for r in decision.reasons] == [
        "the intent model could not be reached",
        "the sentiment model could not be reached",
    ]


@pytest.mark.parametrize(
    ("status", "unavailable", "expected"),
    [
        ("unknown_customer", {}, "the customer is unknown to the churn model; churn risk was not considered"),
        ("not_configured", {}, "no churn model is configured for triage; churn risk was not considered"),
        (
            "unavailable",
            {"churn": "answered HTTP 500"},
            "the churn model could not be reached (answered HTTP 500); churn risk was not considered",
        ),
    ],
)
def test_missing_churn_score_is_explained_but_routes_normally(policy, status, unavailable, expected):
    decision = decide(policy, signals(churn_status=status, unavailable=unavailable))
    assert decision.reasons[-1] == expected
    assert (decision.queue, decision.priority, decision.escalate) == ("billing", "normal", False)


def test_no_customer_needs_no_churn_reason(policy):
    assert not any("churn" in reason for reason in decide(policy, signals()).reasons)


# -- combination semantics on a policy written for them ----------------------------------------------


@pytest.fixture(scope="module")
def toy() -> TriagePolicy:
    return TriagePolicy.model_validate(
        {
            "version": "toy-1",
            "defaults": {"queue": "general", "priority": "low"},
            "degraded": {"queue": "people", "priority": "high"},
            "intent_queues": {"billing_question": "billing"},
            "rules": [
                {
                    "name": "first",
                    "when": {"sentiment": ["negative"]},
                    "then": {"queue": "q1", "reason": "r1"},
                },
                {
                    "name": "second",
                    "when": {"sentiment": ["negative"], "channel": ["email"]},
                    "then": {"queue": "q2", "priority": "high", "reason": "r2"},
                },
                {
                    "name": "lower",
                    "when": {"channel": ["email"]},
                    "then": {"priority": "low", "escalate": True, "reason": "r3"},
                },
                {
                    "name": "bump",
                    "when": {"churn_probability_at_least": 0.8},
                    "then": {"raise_priority": 2, "reason": "r4"},
                },
                {
                    "name": "unsure",
                    "when": {"sentiment_confidence_below": 0.6},
                    "then": {"reason": "r5"},
                },
            ],
        }
    )


def test_first_matching_rule_with_a_queue_sets_it_and_priorities_never_go_down(toy):
    decision = decide(toy, signals(sentiment="negative", channel="email"))
    assert decision.queue == "q1"  # not q2: `first` comes first
    assert decision.priority == "high"  # `lower` (low) cannot undo `second` (high)
    assert decision.escalate  # `lower` escalates
    assert decision.reasons == ("r1", "r2", "r3")


def test_raise_priority_applies_after_the_floors_and_stops_at_urgent(toy):
    assert decide(toy, signals(churn=0.9)).priority == "high"  # low + 2
    assert decide(toy, signals(sentiment="negative", channel="email", churn=0.9)).priority == "urgent"


def test_intent_without_a_queue_goes_to_the_default_queue(toy):
    decision = decide(toy, signals("roaming"))
    assert decision.queue == "general"
    assert decision.reasons == ("'general' is the default queue; no queue is set for intent 'roaming'",)


def test_rule_without_a_queue_leaves_the_intent_queue(toy):
    decision = decide(toy, signals("billing_question", sentiment_conf=0.55))
    assert (decision.queue, decision.matched_rules) == ("billing", ("unsure",))
    assert decision.reasons == ("r5", "'billing' is the queue for intent 'billing_question'")


def test_degraded_queue_wins_over_rules_and_its_priority_is_a_floor(toy):
    decision = decide(toy, signals(None, "negative", unavailable={"intent": "unreachable"}))
    assert decision.queue == "people" and decision.priority == "high" and decision.escalate
    assert decision.matched_rules == ("first",)


@pytest.mark.parametrize(
    ("when", "signal", "expected"),
    [
        ({"intent": ["cancellation"]}, signals("cancellation"), True),
        ({"intent": ["cancellation"]}, signals(None), False),
        ({"sentiment": ["negative"]}, signals(sentiment=None), False),
        ({"intent_confidence_below": 0.5}, signals(None), False),
        ({"sentiment_confidence_below": 0.5}, signals(sentiment_conf=0.49), True),
        ({"churn_probability_at_least": 0.5}, signals(), False),
        ({"channel": ["chat"]}, signals(channel=None), False),
        ({"channel": ["chat", "app"]}, signals(channel="app"), True),
        ({"intent": ["cancellation"], "channel": ["chat"]}, signals("cancellation", channel="email"), False),
    ],
)
def test_conditions(when, signal, expected):
    assert matches(Conditions.model_validate(when), signal) is expected
