"""The offer policy: the shipped file is valid against the spec, and holdings/eligibility rules hold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from cxops.config import Settings
from cxops.recommendation.errors import OfferPolicyError
from cxops.recommendation.policy import OfferPolicy, load_offer_policy
from cxops.specs import load_spec


@pytest.fixture(scope="module")
def policy() -> OfferPolicy:
    return load_offer_policy(Settings())


def _customer(**overrides: str) -> pd.DataFrame:
    row = {
        "PhoneService": "Yes",
        "MultipleLines": "No",
        "InternetService": "DSL",
        "OnlineSecurity": "Yes",
        "OnlineBackup": "No",
        "DeviceProtection": "No",
        "TechSupport": "No",
        "StreamingTV": "No",
        "StreamingMovies": "No",
        "Contract": "Month-to-month",
    }
    return pd.DataFrame([row | overrides])


def test_shipped_policy_agrees_with_the_recommendation_spec(policy: OfferPolicy) -> None:
    spec = load_spec("recommendation")
    policy.check_against(spec)
    assert policy.offer_ids == spec.data.column("offer_id").categories
    assert policy.k.default <= policy.k.max


def test_held_offers_are_read_from_the_profile(policy: OfferPolicy) -> None:
    held = policy.held(_customer()).iloc[0]
    assert set(held[held].index) == {"phone_line", "internet_dsl", "online_security"}


def test_never_offers_what_is_held_or_ineligible(policy: OfferPolicy) -> None:
    allowed = policy.eligible(_customer()).iloc[0]
    offered = set(allowed[allowed].index)
    assert offered.isdisjoint({"phone_line", "internet_dsl", "online_security"})  # held
    assert "internet_fiber" in offered  # an upgrade from DSL
    assert {"contract_one_year", "contract_two_year"} <= offered
    no_internet = policy.eligible(_customer(InternetService="No", OnlineSecurity="No internet service")).iloc[
        0
    ]
    assert not no_internet[["online_backup", "streaming_tv", "free_speed_upgrade"]].any()  # need internet
    assert no_internet[["internet_dsl", "internet_fiber"]].all()
    no_phone = policy.eligible(_customer(PhoneService="No", MultipleLines="No phone service")).iloc[0]
    assert not no_phone["extra_line"] and no_phone["phone_line"]
    two_year = policy.eligible(_customer(Contract="Two year")).iloc[0]
    assert not two_year[["contract_one_year", "contract_two_year"]].any()


def test_retention_offers_only_for_customers_at_risk(policy: OfferPolicy) -> None:
    frame = pd.concat([_customer(), _customer(), _customer()], ignore_index=True)
    churn = np.array([0.9, 0.1, np.nan])
    allowed = policy.eligible(frame, churn)
    assert allowed.loc[0, ["loyalty_discount", "free_speed_upgrade"]].all()
    assert not allowed.loc[1, ["loyalty_discount", "free_speed_upgrade"]].any()
    assert not allowed.loc[2, ["loyalty_discount", "free_speed_upgrade"]].any()  # unknown risk
    assert not policy.eligible(frame).loc[0, "loyalty_discount"]


def test_invalid_policies_are_refused_with_the_reason(tmp_path: Path) -> None:
    raw = yaml.safe_load((Settings().root / "policies" / "offers.yaml").read_text())
    raw["offers"].append(dict(raw["offers"][0]))
    path = tmp_path / "offers.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(OfferPolicyError, match="unique"):
        load_offer_policy(Settings(), path)
    with pytest.raises(OfferPolicyError, match="no offer policy"):
        load_offer_policy(Settings(), tmp_path / "absent.yaml")


def test_a_rule_on_an_unknown_column_or_value_fails_against_the_spec(policy: OfferPolicy) -> None:
    spec = load_spec("recommendation")
    changed = policy.model_copy(
        update={
            "offers": [
                *policy.offers[:-1],
                policy.offers[-1].model_copy(update={"eligible_when": {"InternetService": ["Satellite"]}}),
            ]
        }
    )
    with pytest.raises(OfferPolicyError, match="Satellite"):
        changed.check_against(spec)
    with pytest.raises(OfferPolicyError, match="known offers"):
        policy.offer("free_phone")
