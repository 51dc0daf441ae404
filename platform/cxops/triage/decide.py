"""The triage decision: what the policy says about one message's model answers. Pure: no I/O, no clock.

How matched rules combine (also in docs/triage.md):

- A rule matches when every condition in its `when` holds. A condition on a model that gave no answer
  (unreachable, or churn not scored) never holds, so a missing signal never triggers a rule.
- Queue: when the intent or sentiment model gave no answer, the policy's `degraded.queue` (a person
  reviews the message). Otherwise the first matching rule, in file order, that names a queue; otherwise
  the intent's queue in `intent_queues`; otherwise `defaults.queue`.
- Priority: the highest of `defaults.priority`, every matched rule's `priority` (and `degraded.priority`
  when degraded), then raised by the largest `raise_priority` among the matched rules, capped at urgent.
  A rule can thus only ever make a message more urgent: the order of rules never lowers a priority.
- Escalation to a human: when any matched rule escalates, or when the intent or sentiment model is
  unavailable.
- Reasons: missing models first, then every matched rule's reason in rule order, then where the queue
  came from when no rule chose it, then why churn risk was not considered (when a customer was given).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from cxops.triage.policy import PRIORITIES, Conditions, Priority, Rule, TriagePolicy

__all__ = ["ChurnStatus", "Decision", "Prediction", "Signals", "decide", "matches"]

ChurnStatus = Literal["scored", "not_requested", "not_configured", "unknown_customer", "unavailable"]
"""What became of the churn score: `not_requested` when the request named no customer."""

TEXT_MODELS = ("intent", "sentiment")


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float


@dataclass(frozen=True)
class Signals:
    """Everything a decision depends on. `None` for a text model means it gave no answer."""

    intent: Prediction | None
    sentiment: Prediction | None
    channel: str | None = None
    churn_probability: float | None = None
    churn_status: ChurnStatus = "not_requested"
    unavailable: Mapping[str, str] = field(default_factory=dict)
    """Model -> short cause ("timed out after 2 s"), for every model that gave no answer."""


@dataclass(frozen=True)
class Decision:
    queue: str
    priority: Priority
    escalate: bool
    reasons: tuple[str, ...]
    matched_rules: tuple[str, ...]


def _below(value: float | None, threshold: float | None) -> bool:
    return threshold is None or (value is not None and value < threshold)


def matches(when: Conditions, signals: Signals) -> bool:
    """Whether every condition in `when` holds for `signals` (missing signals fail their conditions)."""
    intent, sentiment = signals.intent, signals.sentiment
    if when.intent is not None and (intent is None or intent.label not in when.intent):
        return False
    if when.sentiment is not None and (sentiment is None or sentiment.label not in when.sentiment):
        return False
    if not _below(intent.confidence if intent else None, when.intent_confidence_below):
        return False
    if not _below(sentiment.confidence if sentiment else None, when.sentiment_confidence_below):
        return False
    if when.churn_probability_at_least is not None and (
        signals.churn_probability is None or signals.churn_probability < when.churn_probability_at_least
    ):
        return False
    return when.channel is None or signals.channel in when.channel


def _churn_note(signals: Signals) -> str | None:
    if signals.churn_status == "unknown_customer":
        return "the customer is unknown to the churn model; churn risk was not considered"
    if signals.churn_status == "not_configured":
        return "no churn model is configured for triage; churn risk was not considered"
    if signals.churn_status == "unavailable":
        cause = signals.unavailable.get("churn", "no answer")
        return f"the churn model could not be reached ({cause}); churn risk was not considered"
    return None


def decide(policy: TriagePolicy, signals: Signals) -> Decision:
    """The queue, priority, escalation and reasons for one message (see the module docstring)."""
    matched: list[Rule] = [rule for rule in policy.rules if matches(rule.when, signals)]
    missing = [m for m in TEXT_MODELS if getattr(signals, m) is None]
    reasons = [
        f"the {model} model could not be reached ({signals.unavailable.get(model, 'no answer')}); "
        "a person reviews the message"
        for model in missing
    ]
    reasons += [rule.then.reason for rule in matched]

    queue_rule = next((rule for rule in matched if rule.then.queue), None)
    if missing:
        queue = policy.degraded.queue
    elif queue_rule is not None:
        queue = queue_rule.then.queue or policy.defaults.queue
    else:
        assert signals.intent is not None
        label = signals.intent.label
        queue = policy.intent_queues.get(label, policy.defaults.queue)
        origin = (
            "the queue for" if label in policy.intent_queues else "the default queue; no queue is set for"
        )
        reasons.append(f"'{queue}' is {origin} intent '{label}'")

    floors = [policy.defaults.priority] + [r.then.priority for r in matched if r.then.priority]
    if missing:
        floors.append(policy.degraded.priority)
    level = max(PRIORITIES.index(p) for p in floors)
    level += max((rule.then.raise_priority for rule in matched), default=0)
    priority = PRIORITIES[min(level, len(PRIORITIES) - 1)]

    note = _churn_note(signals)
    if note:
        reasons.append(note)
    return Decision(
        queue=queue,
        priority=priority,
        escalate=bool(missing) or any(rule.then.escalate for rule in matched),
        reasons=tuple(reasons),
        matched_rules=tuple(rule.name for rule in matched),
    )
