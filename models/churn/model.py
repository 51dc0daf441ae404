"""The churn model's own code: raw subscriber rows -> the features Feast stores and the model reads.

The same function runs before features are written to Feast (training, online store) and in batch
scoring of raw files, so training and scoring can never disagree on a feature.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SERVICE_COLUMNS = [
    "PhoneService",
    "MultipleLines",
    "OnlineSecurity",
    "OnlineBackup",
    "DeviceProtection",
    "TechSupport",
    "StreamingTV",
    "StreamingMovies",
]


def derive_features(raw: pd.DataFrame) -> pd.DataFrame:
    """Typed raw rows (see `cxops.data.loaders.coerce`) -> one row of model inputs per row."""
    out = raw.copy()
    has_internet = out["InternetService"] != "No"
    out["num_services"] = (out[SERVICE_COLUMNS] == "Yes").sum(axis=1) + has_internet.astype(int)
    # Brand-new customers have no bill yet: the IBM file leaves TotalCharges blank for them.
    total = out["TotalCharges"].astype(float)
    out["TotalCharges"] = total.fillna(0.0)
    months = out["tenure"].astype(float).clip(lower=1)
    out["avg_monthly_spend"] = np.where(
        out["tenure"] > 0, out["TotalCharges"] / months, out["MonthlyCharges"]
    )
    # Positive when the current bill is above what the customer paid on average: a price-rise signal.
    out["charge_trend"] = out["MonthlyCharges"] - out["avg_monthly_spend"]
    return out
