from __future__ import annotations

from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from cxops.config import Settings
from cxops.data.loaders import coerce
from cxops.data.offers import OFFER_RESPONSE_COLUMNS, telco_offer_responses
from cxops.errors import InvalidInputError
from cxops.recommendation.policy import OfferPolicy, load_offer_policy
from cxops.specs import ModelSpec, load_model_code, load_spec

ADDONS_AS_OFFERS = [
    "online_security",
    "online_backup",
    "device_protection",
    "tech_support",
    "streaming_tv",
    "streaming_movies",
]
ADDONS = [
    "OnlineSecurity",
    "OnlineBackup",
    "DeviceProtection",
    "TechSupport",
    "StreamingTV",
    "StreamingMovies",
]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(home=tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def spec(settings: Settings) -> ModelSpec:
    return load_spec("recommendation", settings)


@pytest.fixture(scope="module")
def policy(settings: Settings) -> OfferPolicy:
    return load_offer_policy(settings)


@pytest.fixture(scope="module")
def model(settings: Settings) -> ModuleType:
    return load_model_code("recommendation", settings)


@pytest.fixture(scope="module")
def real_head(spec: ModelSpec, settings: Settings) -> pd.DataFrame:
    """The first 300 subscribers of the IBM Telco file, as stored (every value as text)."""
    assert spec.data.real_dataset is not None
    path = (settings.root / spec.data.real_dataset).resolve()
    return pd.read_csv(path, dtype=str, keep_default_na=False, nrows=300)


def customer(**changes: object) -> dict[str, object]:
    """A fibre subscriber with a phone line, a second line, every add-on and a one-year contract."""
    row: dict[str, object] = {
        "customerID": "0001-AAAAA",
        "gender": "Female",
        "SeniorCitizen": "0",
        "Partner": "Yes",
        "Dependents": "No",
        "tenure": 10,
        "PhoneService": "Yes",
        "MultipleLines": "Yes",
        "InternetService": "Fiber optic",
        **dict.fromkeys(ADDONS, "Yes"),
        "Contract": "One year",
        "PaperlessBilling": "Yes",
        "PaymentMethod": "Mailed check",
        "MonthlyCharges": 110.0,
        "TotalCharges": 1100.0,
        "support_contacts_90d": 0,
    }
    return row | changes


def hidden_offers(rows: pd.DataFrame) -> dict[str, str]:
    accepted = rows[rows["response"] == "accepted"]
    return dict(zip(accepted["customerID"], accepted["offer_id"], strict=True))


@pytest.mark.parametrize(
    ("offer_id", "changes", "charge"),
    [
        ("internet_fiber", {"InternetService": "No", **dict.fromkeys(ADDONS, "No internet service")}, 60.0),
        ("phone_line", {"PhoneService": "No", "MultipleLines": "No phone service"}, 90.0),
        ("extra_line", {"MultipleLines": "No"}, 100.0),
        ("tech_support", {"TechSupport": "No"}, 105.0),
        ("streaming_tv", {"StreamingTV": "No"}, 100.0),
        ("contract_one_year", {"Contract": "Month-to-month"}, 110.0),
        ("loyalty_discount", {}, 110.0),  # retention offers are never held
        ("internet_dsl", {}, 110.0),  # not held by a fibre customer: nothing to remove
    ],
)
def test_remove_holding_cascades_and_reprices(
    model: ModuleType, policy: OfferPolicy, offer_id: str, changes: dict[str, str], charge: float
) -> None:
    profile = pd.DataFrame([customer()])

    out = model.remove_holding(profile, [offer_id], policy)

    expected = pd.DataFrame([customer(**changes, MonthlyCharges=charge, TotalCharges=charge * 10)])
    pd.testing.assert_frame_equal(out, expected)
    assert not policy.held(out)[offer_id].any()
    pd.testing.assert_frame_equal(profile, pd.DataFrame([customer()]))  # the input is left alone


def test_remove_holding_per_row_with_a_floor_and_on_raw_text(model: ModuleType, policy: OfferPolicy) -> None:
    typed = pd.DataFrame(
        [
            customer(customerID="1", MonthlyCharges=30.0, TotalCharges=300.0),
            customer(customerID="2", tenure=0, TotalCharges=np.nan),
            customer(customerID="3", Contract="Two year"),
        ]
    )
    offers = ["phone_line", "streaming_movies", "contract_two_year"]

    out = model.remove_holding(typed, offers, policy)

    assert out["MonthlyCharges"].tolist() == [18.0, 100.0, 110.0]  # never below the lowest bill
    assert out["TotalCharges"].tolist()[::2] == [180.0, 1100.0] and np.isnan(out.loc[1, "TotalCharges"])
    assert out[["PhoneService", "StreamingMovies", "Contract"]].to_numpy().diagonal().tolist() == [
        "No",
        "No",
        "Month-to-month",
    ]
    # The raw file's text (numbers as text, a blank TotalCharges) gives the same profile.
    as_text = typed.astype(str).replace({"TotalCharges": {"nan": " "}})
    from_text = model.remove_holding(as_text, offers, policy)
    pd.testing.assert_frame_equal(
        from_text[["MonthlyCharges", "TotalCharges"]], out[["MonthlyCharges", "TotalCharges"]]
    )
    assert from_text["Contract"].equals(out["Contract"])
    with pytest.raises(InvalidInputError, match="2 offer ids for 3 profile rows"):
        model.remove_holding(typed, offers[:2], policy)


def test_leave_one_out_on_the_real_file(
    model: ModuleType, policy: OfferPolicy, spec: ModelSpec, real_head: pd.DataFrame
) -> None:
    rows = model.holdings_to_responses(real_head, policy)

    accepted = rows[rows["response"] == "accepted"]
    assert accepted["customerID"].is_unique
    assert set(rows["customerID"]) == set(accepted["customerID"])
    assert 0.8 * len(real_head) < accepted["customerID"].nunique() <= len(real_head)
    assert list(rows.columns) == [c for c in OFFER_RESPONSE_COLUMNS if c in rows.columns]
    assert "Churn" not in rows.columns and "event_timestamp" not in rows.columns
    assert set(rows["channel"]) == {"agent"}
    assert rows["marketing_consent"].isna().all() and rows["profiling_opt_out"].isna().all()

    original = real_head.set_index("customerID").loc[accepted["customerID"]].reset_index()
    hidden = accepted["offer_id"].to_numpy()
    before = policy.held(original).to_numpy()
    after = policy.held(accepted.reset_index(drop=True)).to_numpy()
    column = policy.held(original).columns.get_indexer(hidden)
    index = np.arange(len(hidden))
    assert before[index, column].all() and not after[index, column].any()
    before[index, column] = False
    np.testing.assert_array_equal(after, before)  # every other holding is intact
    assert len(set(hidden)) > 6  # many kinds of holdings are hidden, not one

    # Each customer's rows are the eligible offers of the masked profile, the hidden one accepted.
    profiles = accepted.reset_index(drop=True)
    allowed = policy.eligible(profiles)
    expected = {
        (cid, offer)
        for cid, row in zip(profiles["customerID"], allowed.to_numpy(), strict=True)
        for offer in allowed.columns[row]
    }
    assert set(zip(rows["customerID"], rows["offer_id"], strict=True)) == expected
    assert not rows["offer_id"].isin(["loyalty_discount", "free_speed_upgrade"]).any()
    # The profile is the masked one on every row of a customer.
    profile_columns = [c for c in real_head.columns if c not in ("customerID", "Churn")]
    assert (rows.groupby("customerID")[profile_columns].nunique() == 1).all().all()

    frame = coerce(rows, spec)
    assert frame["marketing_consent"].isna().all() and frame["support_contacts_90d"].isna().all()
    assert frame["MonthlyCharges"].between(18.0, 500.0).all()
    assert (frame["response"] == "accepted").sum() == len(accepted)


def test_leave_one_out_is_seeded_and_skips_what_cannot_be_hidden(
    model: ModuleType, policy: OfferPolicy, real_head: pd.DataFrame
) -> None:
    first = model.holdings_to_responses(real_head, policy, seed=1)
    pd.testing.assert_frame_equal(first, model.holdings_to_responses(real_head, policy, seed=1))
    other = model.holdings_to_responses(real_head, policy, seed=2)
    hidden_first, hidden_other = hidden_offers(first), hidden_offers(other)
    assert hidden_first.keys() == hidden_other.keys()  # who can be kept does not depend on the seed
    changed = sum(hidden_first[c] != hidden_other[c] for c in hidden_first)
    assert changed > 0.3 * len(hidden_first)

    # Phone only, one line, no contract: hiding the phone line would leave no service at all.
    phone_only = customer(
        customerID="9999-PHONE",
        MultipleLines="No",
        InternetService="No",
        **dict.fromkeys(ADDONS, "No internet service"),
        Contract="Month-to-month",
        MonthlyCharges=20.0,
    )
    # Everything held: the internet and the phone line cannot go (the add-ons or the second line would
    # go with them); the second line, each add-on and the contract can.
    stamp = pd.Timestamp("2026-01-01", tz="UTC")
    everything = [customer(customerID=f"{i:04d}-FIBRE", Contract="Two year") for i in range(80)]
    holdings = pd.DataFrame([phone_only, *everything]).assign(event_timestamp=stamp, Churn="No")

    rows = model.holdings_to_responses(holdings, policy)

    assert "9999-PHONE" not in set(rows["customerID"])
    assert rows["customerID"].nunique() == len(everything)
    accepted = set(rows.loc[rows["response"] == "accepted", "offer_id"])
    assert accepted == {"extra_line", "contract_two_year", *ADDONS_AS_OFFERS}
    assert (rows["event_timestamp"] == stamp).all()
    assert list(rows.columns) == OFFER_RESPONSE_COLUMNS


def test_prepare_real_turns_holdings_into_responses_and_keeps_histories(
    model: ModuleType, policy: OfferPolicy, real_head: pd.DataFrame
) -> None:
    pd.testing.assert_frame_equal(
        model.prepare_real(real_head, policy), model.holdings_to_responses(real_head, policy)
    )
    history = telco_offer_responses(40, seed=2)
    assert model.prepare_real(history, policy) is history


def test_features_are_the_churn_models_and_keep_the_offer(model: ModuleType, spec: ModelSpec) -> None:
    raw = coerce(telco_offer_responses(60, seed=3), spec)

    features = model.derive_features(raw)

    pd.testing.assert_frame_equal(features, load_model_code("churn").derive_features(raw))
    assert {"offer_id", "response", "marketing_consent", "channel"} <= set(features.columns)
    assert features["offer_id"].equals(raw["offer_id"])
    # Every input but the offer's catalogue features, which come from the policy.
    assert set(spec.features.names) - {"offer_kind", "offer_monthly_price"} <= set(features.columns)
