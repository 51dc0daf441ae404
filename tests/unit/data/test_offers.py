from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from cxops.config import Settings
from cxops.data.generators import generate, telco_subscribers
from cxops.data.loaders import coerce
from cxops.data.offers import OFFER_RESPONSE_COLUMNS, telco_offer_responses
from cxops.recommendation.errors import OfferPolicyError
from cxops.recommendation.policy import Offer, OfferPolicy, load_offer_policy
from cxops.specs import ModelSpec, load_spec
from cxops.validation import validate

AS_OF = datetime(2026, 3, 1, tzinfo=UTC)
N, SEED = 3000, 5


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
def subscribers() -> pd.DataFrame:
    return telco_subscribers(N, SEED, AS_OF)


@pytest.fixture(scope="module")
def _responses() -> pd.DataFrame:
    return telco_offer_responses(N, SEED, AS_OF)


@pytest.fixture
def responses(_responses: pd.DataFrame) -> pd.DataFrame:
    return _responses.copy()


@pytest.fixture
def with_churn(responses: pd.DataFrame, subscribers: pd.DataFrame) -> pd.DataFrame:
    """Responses with the subscriber's churn (the generator's at-risk signal) and `accepted` as a flag."""
    churn = subscribers.set_index("customerID")["Churn"]
    return responses.assign(
        Churn=responses["customerID"].map(churn), accepted=responses["response"] == "accepted"
    )


def test_same_inputs_same_rows_other_seed_other_rows(responses: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(responses, telco_offer_responses(N, SEED, AS_OF))
    other = telco_offer_responses(N, SEED + 1, AS_OF)
    assert set(other["customerID"]).isdisjoint(responses["customerID"])


def test_customers_are_the_churn_generators_subscribers(
    responses: pd.DataFrame, subscribers: pd.DataFrame
) -> None:
    profile_columns = [c for c in subscribers.columns if c not in ("Churn", "event_timestamp")]
    expected = subscribers.set_index("customerID").loc[responses["customerID"], profile_columns[1:]]

    pd.testing.assert_frame_equal(
        responses[profile_columns[1:]].reset_index(drop=True), expected.reset_index(drop=True)
    )
    # Nearly every subscriber is made at least one offer (only those the policy allows nothing are not).
    assert responses["customerID"].nunique() > 0.97 * N


def test_rows_follow_the_spec(responses: pd.DataFrame, spec: ModelSpec) -> None:
    assert list(responses.columns) == [c.name for c in spec.data.columns] == OFFER_RESPONSE_COLUMNS
    for col in spec.data.columns:
        if col.categories:
            values = set(responses[col.name].dropna().unique())
            assert values <= set(col.categories), col.name
    stamps = responses["event_timestamp"]
    assert str(stamps.dt.tz) == "UTC"
    assert stamps.max() < AS_OF and stamps.min() >= AS_OF - timedelta(days=60)


def test_offers_are_allowed_never_held_and_distinct_per_customer(
    with_churn: pd.DataFrame, policy: OfferPolicy
) -> None:
    at_risk = (with_churn["Churn"] == "Yes").astype(float).to_numpy()
    allowed = policy.eligible(with_churn, churn_probability=at_risk)
    held = policy.held(with_churn)
    column = allowed.columns.get_indexer(with_churn["offer_id"])
    rows = range(len(with_churn))

    assert allowed.to_numpy()[rows, column].all()
    assert not held.to_numpy()[rows, column].any()
    assert not with_churn.duplicated(["customerID", "offer_id"]).any()
    per_customer = with_churn.groupby("customerID").size()
    assert per_customer.between(1, 4).all() and per_customer.nunique() == 4
    retention = with_churn["offer_id"].map(lambda o: policy.offer(o).kind) == "retention"
    assert set(with_churn.loc[retention, "Churn"]) == {"Yes"}


def test_acceptance_rate_and_its_drivers(with_churn: pd.DataFrame, policy: OfferPolicy) -> None:
    assert 0.15 < with_churn["accepted"].mean() < 0.25

    def rate(offer_id: str, by: str) -> pd.Series:
        rows = with_churn[with_churn["offer_id"] == offer_id]
        return rows.groupby(by)["accepted"].mean()

    assert rate("extra_line", "Partner")["Yes"] > 2 * rate("extra_line", "Partner")["No"]
    assert (
        rate("streaming_movies", "StreamingTV")["Yes"] > 1.5 * rate("streaming_movies", "StreamingTV")["No"]
    )
    assert rate("tech_support", "SeniorCitizen")["1"] > 1.5 * rate("tech_support", "SeniorCitizen")["0"]
    retention = with_churn["offer_id"].map(lambda o: policy.offer(o).kind) == "retention"
    assert 0.45 < with_churn.loc[retention, "accepted"].mean() < 0.65
    channel = with_churn.groupby("channel")["accepted"].mean()
    assert channel["agent"] > channel["email"] and channel["agent"] > channel["sms"]


def test_consent_shares(responses: pd.DataFrame) -> None:
    customers = responses.drop_duplicates("customerID")
    consent = customers["marketing_consent"].value_counts(normalize=True, dropna=False)
    assert 0.76 < consent["Yes"] < 0.84 and 0.12 < consent["No"] < 0.18
    no_record = customers["marketing_consent"].isna()
    assert 0.03 < no_record.mean() < 0.07
    # No consent record, no profiling record either.
    assert customers["profiling_opt_out"].isna().equals(no_record)
    assert 0.04 < (customers.loc[~no_record, "profiling_opt_out"] == "Yes").mean() < 0.10
    # A customer's consent is the same on each of their rows.
    assert (responses.groupby("customerID")["marketing_consent"].nunique(dropna=False) == 1).all()


def test_generated_rows_pass_the_expectation_suite(
    responses: pd.DataFrame, spec: ModelSpec, tmp_path: Path
) -> None:
    report = validate(coerce(responses, spec), spec, tmp_path / "validation")

    assert report.success, report.summary()
    assert report.suite == "recommendation_raw"


def test_registered_as_the_specs_generator(spec: ModelSpec) -> None:
    frame = generate(spec.data.generator, n=50, seed=1)

    assert list(frame.columns) == OFFER_RESPONSE_COLUMNS
    assert frame["customerID"].isin(telco_subscribers(50, seed=1)["customerID"]).all()


def test_an_offer_without_an_acceptance_model_is_refused(policy: OfferPolicy) -> None:
    credit = Offer(id="bill_credit", name="One-off bill credit", kind="retention", monthly_price=0.0)
    extended = policy.model_copy(update={"offers": [*policy.offers, credit]})

    with pytest.raises(OfferPolicyError, match="bill_credit"):
        telco_offer_responses(400, seed=1, as_of=AS_OF, policy=extended)
