"""The triage policy (`policies/triage.yaml`): routing rules as data, checked against the model specs.

A policy has a version (returned with every decision), a message-length limit, default queue and
priority, the queue a person works when a model cannot be reached (`degraded`), a queue per intent, and
an ordered list of rules. A rule has a `name`, `when` (conditions that must all hold) and `then` (what
it does). How matched rules combine is `cxops.triage.decide`'s business; this module only says what a
valid policy is. Every intent and sentiment the policy names must be a label of the intent and
sentiment models (`models/<name>/spec.yaml`), so a renamed label fails at start-up, not in production
traffic.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cxops.config import Settings
from cxops.specs import load_spec
from cxops.triage._errors import PolicyError

__all__ = [
    "CHANNELS",
    "PRIORITIES",
    "Channel",
    "Conditions",
    "Defaults",
    "Effects",
    "Labels",
    "Priority",
    "Rule",
    "TriagePolicy",
    "load_policy",
    "spec_labels",
]

Priority = Literal["low", "normal", "high", "urgent"]
PRIORITIES: tuple[Priority, ...] = ("low", "normal", "high", "urgent")
"""Lowest first: a priority's index is its level."""

Channel = Literal["chat", "email", "app", "social"]
CHANNELS: tuple[Channel, ...] = ("chat", "email", "app", "social")

_Probability = Field(default=None, ge=0, le=1)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Conditions(_Strict):
    """`when`: every condition given must hold. A condition on a model that gave no answer never holds."""

    intent: list[str] | None = Field(None, min_length=1)
    sentiment: list[str] | None = Field(None, min_length=1)
    intent_confidence_below: float | None = _Probability
    sentiment_confidence_below: float | None = _Probability
    churn_probability_at_least: float | None = _Probability
    channel: list[Channel] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _not_empty(self) -> Conditions:
        if all(value is None for value in self.__dict__.values()):
            raise ValueError(
                "'when' needs at least one condition; a value for every message belongs in 'defaults'"
            )
        return self


class Effects(_Strict):
    """`then`: what a matching rule does. `reason` is mandatory: every decision explains itself."""

    queue: str | None = Field(None, min_length=1)
    priority: Priority | None = None
    """A floor: the decision's priority is at least this."""
    raise_priority: int = Field(0, ge=0, le=3)
    """Levels to raise the priority by, after the floors are applied (capped at urgent)."""
    escalate: bool = False
    reason: str = Field(min_length=1)


class Rule(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    when: Conditions
    then: Effects


class Defaults(_Strict):
    queue: str = Field(min_length=1)
    priority: Priority = "normal"


class TriagePolicy(_Strict):
    version: str = Field(min_length=1)
    max_message_chars: int = Field(5000, ge=1, le=1_000_000)
    """Longer messages are refused with 413 before any model is called."""
    defaults: Defaults
    degraded: Defaults
    """Queue and priority floor when the intent or sentiment model cannot be reached."""
    intent_queues: dict[str, str] = {}
    """The queue of each intent when no rule sets one; intents not listed go to `defaults.queue`."""
    rules: list[Rule] = []

    @model_validator(mode="after")
    def _unique_rule_names(self) -> TriagePolicy:
        names = [rule.name for rule in self.rules]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"rule names must be unique; {duplicated} appear more than once")
        return self


@dataclass(frozen=True)
class Labels:
    """The labels the intent and sentiment models can answer with (from their specs)."""

    intents: tuple[str, ...]
    sentiments: tuple[str, ...]


def spec_labels(settings: Settings | None = None) -> Labels:
    """The label categories of the `intent` and `sentiment` model specs."""
    return Labels(
        intents=tuple(load_spec("intent", settings).label_categories),
        sentiments=tuple(load_spec("sentiment", settings).label_categories),
    )


def _label_problems(policy: TriagePolicy, labels: Labels) -> list[str]:
    problems = []
    known_intents, known_sentiments = set(labels.intents), set(labels.sentiments)
    unknown = [intent for intent in policy.intent_queues if intent not in known_intents]
    if unknown:
        problems.append(f"intent_queues names unknown intents {unknown}")
    for rule in policy.rules:
        unknown = [i for i in rule.when.intent or [] if i not in known_intents]
        if unknown:
            problems.append(f"rule '{rule.name}' names unknown intents {unknown}")
        unknown = [s for s in rule.when.sentiment or [] if s not in known_sentiments]
        if unknown:
            problems.append(f"rule '{rule.name}' names unknown sentiments {unknown}")
    return problems


def _format_validation(exc: ValidationError, data: dict[str, Any]) -> str:
    """One line per problem, naming the field by its path and, inside `rules`, the rule by its name."""
    rules = data.get("rules") if isinstance(data.get("rules"), list) else []
    lines = []
    for error in exc.errors():
        parts = [str(part) for part in error["loc"]]
        if len(parts) >= 2 and parts[0] == "rules" and parts[1].isdigit():
            index = int(parts[1])
            rule = rules[index] if index < len(rules) else None
            name = rule.get("name") if isinstance(rule, dict) else None
            parts[:2] = [f"rules[{index}]" + (f" ({name!r})" if isinstance(name, str) else "")]
        lines.append(f"  {'.'.join(parts) or '(top level)'}: {error['msg']}")
    return "\n".join(lines)


def load_policy(
    path: Path | None = None, *, labels: Labels | None = None, settings: Settings | None = None
) -> TriagePolicy:
    """Read and validate a policy file; `labels` default to the intent and sentiment specs' labels.

    Raises `PolicyError` naming the file and every problem found, with the fix.
    """
    settings = settings or Settings()
    path = path or settings.root / "policies" / "triage.yaml"
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise PolicyError(
            f"triage policy {path} does not exist; create it (see policies/triage.yaml in the project) "
            "or point CXOPS_TRIAGE_POLICY_PATH at it"
        ) from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"triage policy {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PolicyError(
            f"triage policy {path} must be a YAML mapping with 'version', 'defaults', 'rules', ..."
        )
    try:
        policy = TriagePolicy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(
            f"triage policy {path} is invalid ({exc.error_count()} problem(s)):\n"
            + _format_validation(exc, data)
        ) from None
    labels = labels or spec_labels(settings)
    problems = _label_problems(policy, labels)
    if problems:
        raise PolicyError(
            f"triage policy {path} names labels the models do not have: "
            + "; ".join(problems)
            + f". Known intents: {', '.join(labels.intents)}."
            + f" Known sentiments: {', '.join(labels.sentiments)}."
            " Fix the policy, or add the label to models/intent/spec.yaml or models/sentiment/spec.yaml"
            " (and retrain)."
        )
    return policy
