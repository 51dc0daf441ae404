import pandas as pd
import pytest

from cxops.data.generators import generate, telco_subscribers
from cxops.errors import NotFoundError
from cxops.specs import load_spec


def test_same_seed_same_rows_other_seed_other_rows():
    a, b = telco_subscribers(300, seed=1), telco_subscribers(300, seed=1)
    pd.testing.assert_frame_equal(a.drop(columns="event_timestamp"), b.drop(columns="event_timestamp"))
    assert not telco_subscribers(300, seed=2)["customerID"].equals(a["customerID"])


def test_generated_rows_follow_the_spec():
    spec = load_spec("churn")
    frame = telco_subscribers(2000, seed=3)
    assert list(frame.columns) == [c.name for c in spec.data.columns]
    assert frame["customerID"].is_unique
    for col in spec.data.columns:
        if col.categories:
            assert set(frame[col.name].unique()) <= set(col.categories), col.name
    assert frame.loc[frame.tenure == 0, "TotalCharges"].isna().all()  # like the IBM file
    assert 0.15 < (frame.Churn == "Yes").mean() < 0.40


def test_churn_follows_its_drivers():
    frame = telco_subscribers(5000, seed=4)
    rate = frame.assign(y=frame.Churn == "Yes").groupby("Contract")["y"].mean()
    assert rate["Month-to-month"] > 2 * rate["Two year"]
    short, long_ = frame[frame.tenure < 6], frame[frame.tenure > 48]
    assert (short.Churn == "Yes").mean() > (long_.Churn == "Yes").mean()


def test_unknown_generator():
    with pytest.raises(NotFoundError, match="telco_subscribers"):
        generate("nope", n=10)
