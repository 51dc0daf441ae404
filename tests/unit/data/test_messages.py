import re
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from cxops.data.messages import CHANNELS, INTENTS, LANGUAGES, SENTIMENTS, support_messages

AS_OF = datetime(2025, 6, 1, tzinfo=UTC)
_PII = re.compile(
    r"[\w.]+@\w+\.\w+"  # email
    r"|\b(?:\d{4} ){3}\d{4}\b"  # card
    r"|\b[A-Z]{2}\d{2}(?: \d{4}){3,}"  # IBAN
    r"|\(\d{3}\) 555-\d{4}|\+1 \d{3} 555 \d{4}|\+33 6(?: \d{2}){4}|\b06\d{8}\b"  # phone
)


@pytest.fixture(scope="module")
def messages() -> pd.DataFrame:
    return support_messages(4000, seed=11, as_of=AS_OF)


def test_same_seed_same_rows_other_seed_other_rows():
    a, b = support_messages(500, seed=1, as_of=AS_OF), support_messages(500, seed=1, as_of=AS_OF)
    pd.testing.assert_frame_equal(a, b)
    assert (support_messages(500, seed=2, as_of=AS_OF)["text"] != a["text"]).mean() > 0.9


def test_schema_and_label_sets(messages):
    assert list(messages.columns) == [
        "message_id",
        "customerID",
        "channel",
        "language",
        "text",
        "intent",
        "sentiment",
        "event_timestamp",
    ]
    assert len(messages) == 4000
    assert messages["message_id"].is_unique
    assert messages["message_id"].str.fullmatch(r"MSG-\d{6}").all()
    assert messages["customerID"].str.fullmatch(r"\d{4}-[A-Z]{5}").all()
    assert messages["customerID"].nunique() < len(messages) / 2  # customers write more than once
    assert set(messages["channel"]) == set(CHANNELS)
    assert set(messages["language"]) == set(LANGUAGES)
    assert set(messages["intent"]) == set(INTENTS) and len(INTENTS) == 12
    assert set(messages["sentiment"]) == set(SENTIMENTS)
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", i) for i in INTENTS)
    assert (messages["text"].str.strip().str.len() > 0).all()


def test_timestamps_are_utc_and_within_90_days(messages):
    ts = messages["event_timestamp"]
    assert str(ts.dt.tz) == "UTC"
    assert ts.max() < pd.Timestamp(AS_OF) and ts.min() >= pd.Timestamp(AS_OF - timedelta(days=90))


def test_language_proportion_and_class_balance(messages):
    assert 0.70 < (messages["language"] == "en").mean() < 0.80
    assert messages["intent"].value_counts().min() > 0.5 * 4000 / len(INTENTS)
    share = messages["sentiment"].value_counts(normalize=True)
    assert share.min() > 0.08


def test_sentiment_follows_intent(messages):
    negative = messages.assign(neg=messages["sentiment"] == "negative").groupby("intent")["neg"].mean()
    assert negative["network_outage"] > 2 * negative["plan_change"]
    assert negative["cancellation"] > 2 * negative["moving_address"]


def test_few_duplicate_texts(messages):
    assert messages["text"].duplicated().mean() < 0.02


def test_typos_present_but_rare():
    clean = support_messages(1500, seed=5, as_of=AS_OF, typo_rate=0)
    typed = support_messages(1500, seed=5, as_of=AS_OF)
    changed = clean["text"] != typed["text"]
    assert 0.03 < changed.mean() < 0.35
    words = clean["text"].str.split(" ").explode()
    words_typed = typed["text"].str.split(" ").explode()
    assert len(words) == len(words_typed)  # typos change letters, never word boundaries
    assert (words.to_numpy() != words_typed.to_numpy()).mean() < 0.02
    # Labels and everything else are unaffected by typos.
    pd.testing.assert_frame_equal(clean.drop(columns="text"), typed.drop(columns="text"))


def test_some_messages_carry_personal_data(messages):
    share = messages["text"].str.contains(_PII).mean()
    assert 0.02 < share < 0.10


def test_short_and_long_messages(messages):
    words = messages["text"].str.split().str.len()
    assert (words <= 8).mean() > 0.05
    assert (words >= 30).mean() > 0.03
    assert messages["text"].str.contains("\n").any()  # emails come with line breaks


def test_labels_learnable_but_not_trivial(messages):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    train, test = messages.iloc[:3000], messages.iloc[3000:]
    for label, floor in (("intent", 0.6), ("sentiment", 0.6)):
        model = make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2),
            LogisticRegression(solver="saga", tol=1e-3),
        )
        model.fit(train["text"], train[label])
        accuracy = (model.predict(test["text"]) == test[label]).mean()
        assert floor < accuracy < 1.0, (label, accuracy)
