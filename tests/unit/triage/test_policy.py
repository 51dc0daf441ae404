"""The triage policy file: the product's own policy is valid and complete; broken ones fail clearly."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from cxops.config import Settings
from cxops.specs import load_spec
from cxops.triage import PolicyError
from cxops.triage.policy import Labels, load_policy, spec_labels

ROOT_POLICY = Settings().root / "policies" / "triage.yaml"


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(ROOT_POLICY.read_text())


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "triage.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_the_product_policy_is_valid_and_covers_every_intent():
    policy = load_policy()
    intents = load_spec("intent").label_categories
    assert policy.version and policy.max_message_chars == 5000
    assert sorted(policy.intent_queues) == sorted(intents)
    assert [rule.name for rule in policy.rules][:1] == ["uncertain_intent"]


def test_spec_labels_are_the_specs_label_categories():
    labels = spec_labels()
    assert "cancellation" in labels.intents and len(labels.intents) == 12
    assert labels.sentiments == ("negative", "neutral", "positive")


def test_a_relative_default_path_is_read_from_the_project_root(tmp_path, raw):
    root = tmp_path / "project"
    (root / "policies").mkdir(parents=True)
    (root / "models").symlink_to(Settings().root / "models")
    changed = {**raw, "version": "from-the-other-root"}
    (root / "policies" / "triage.yaml").write_text(yaml.safe_dump(changed))
    assert load_policy(settings=Settings(root=root, home=tmp_path / "home")).version == "from-the-other-root"


def _mutated(raw: dict, change) -> dict:
    data = copy.deepcopy(raw)
    change(data)
    return data


def _rule(data: dict, name: str) -> dict:
    return next(rule for rule in data["rules"] if rule["name"] == name)


INVALID = [
    (
        "typo in a rule's key",
        lambda d: _rule(d, "angry_cancellation").update(wen=_rule(d, "angry_cancellation").pop("when")),
        ["rules[2] ('angry_cancellation').wen: Extra inputs are not permitted", "when: Field required"],
    ),
    (
        "unknown condition",
        lambda d: _rule(d, "uncertain_intent")["when"].update(intent_confidence_under=0.4),
        ["rules[0] ('uncertain_intent').when.intent_confidence_under: Extra inputs are not permitted"],
    ),
    (
        "threshold outside [0, 1]",
        lambda d: _rule(d, "likely_churner")["when"].update(churn_probability_at_least=50),
        ["churn_probability_at_least: Input should be less than or equal to 1"],
    ),
    (
        "empty conditions",
        lambda d: _rule(d, "likely_churner").update(when={}),
        ["'when' needs at least one condition"],
    ),
    (
        "unknown priority",
        lambda d: _rule(d, "angry_cancellation")["then"].update(priority="critical"),
        ["then.priority: Input should be 'low', 'normal', 'high' or 'urgent'"],
    ),
    (
        "rule without a reason",
        lambda d: _rule(d, "public_complaint")["then"].pop("reason"),
        ["rules[3] ('public_complaint').then.reason: Field required"],
    ),
    (
        "unknown channel",
        lambda d: _rule(d, "public_complaint")["when"].update(channel=["fax"]),
        ["channel.0"],
    ),
    (
        "duplicate rule names",
        lambda d: d["rules"].append(copy.deepcopy(d["rules"][0])),
        ["rule names must be unique; ['uncertain_intent'] appear more than once"],
    ),
    ("no version", lambda d: d.pop("version"), ["version: Field required"]),
    ("unknown top-level key", lambda d: d.update(rulez=[]), ["rulez: Extra inputs are not permitted"]),
    ("message limit of zero", lambda d: d.update(max_message_chars=0), ["max_message_chars"]),
]


@pytest.mark.parametrize(("change", "expected"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_policy_names_the_file_and_the_field(tmp_path, raw, change, expected):
    path = write(tmp_path, _mutated(raw, change))
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    message = str(info.value)
    assert str(path) in message and "is invalid" in message
    for part in expected:
        assert part in message
    assert info.value.status_code == 422


LABEL_ERRORS = [
    (
        "intent in a rule",
        lambda d: _rule(d, "angry_cancellation")["when"].update(intent=["cancelation"]),
        "rule 'angry_cancellation' names unknown intents ['cancelation']",
    ),
    (
        "sentiment in a rule",
        lambda d: _rule(d, "outage_with_frustration")["when"].update(sentiment=["angry"]),
        "rule 'outage_with_frustration' names unknown sentiments ['angry']",
    ),
    (
        "intent in intent_queues",
        lambda d: d["intent_queues"].update(card_arrival="billing"),
        "intent_queues names unknown intents ['card_arrival']",
    ),
]


@pytest.mark.parametrize(
    ("change", "expected"), [c[1:] for c in LABEL_ERRORS], ids=[c[0] for c in LABEL_ERRORS]
)
def test_labels_must_exist_in_the_model_specs(tmp_path, raw, change, expected):
    path = write(tmp_path, _mutated(raw, change))
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    message = str(info.value)
    assert expected in message
    assert "Known intents: billing_question, payment_issue" in message
    assert "Known sentiments: negative, neutral, positive" in message
    assert "models/intent/spec.yaml" in message


def test_labels_can_be_given_explicitly(tmp_path, raw):
    path = write(tmp_path, raw)
    with pytest.raises(PolicyError, match=r"unknown sentiments \['negative'\]"):
        load_policy(path, labels=Labels(intents=tuple(raw["intent_queues"]), sentiments=("neg", "pos")))


def test_missing_file(tmp_path):
    with pytest.raises(PolicyError, match="does not exist.*CXOPS_TRIAGE_POLICY_PATH"):
        load_policy(tmp_path / "nope.yaml")


def test_not_yaml(tmp_path):
    with pytest.raises(PolicyError, match="is not valid YAML"):
        load_policy(write(tmp_path, "version: [unclosed\n"))


def test_not_a_mapping(tmp_path):
    with pytest.raises(PolicyError, match="must be a YAML mapping"):
        load_policy(write(tmp_path, "- just\n- a list\n"))
