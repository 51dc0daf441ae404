"""Built-in, seeded data generators, so the platform runs anywhere without a shared dataset.

`telco_subscribers` draws subscribers with the IBM Telco schema (plus `support_contacts_90d` and an
event timestamp) whose churn is driven by what drives it in practice: short tenure, month-to-month
contracts, fibre customers without tech support, electronic-check payment, recent price rises and
repeated support contacts.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from cxops.data._ids import customer_ids
from cxops.data.messages import support_messages
from cxops.data.offers import telco_offer_responses
from cxops.errors import NotFoundError

__all__ = ["GENERATORS", "generate", "telco_subscribers"]

_ADDONS = [
    "OnlineSecurity",
    "OnlineBackup",
    "DeviceProtection",
    "TechSupport",
    "StreamingTV",
    "StreamingMovies",
]
_ADDON_PRICE = {
    "OnlineSecurity": 5.0,
    "OnlineBackup": 5.0,
    "DeviceProtection": 5.0,
    "TechSupport": 5.0,
    "StreamingTV": 10.0,
    "StreamingMovies": 10.0,
}


def telco_subscribers(n: int = 5000, seed: int = 7, as_of: datetime | None = None) -> pd.DataFrame:
    """`n` subscribers observed during the 90 days before `as_of` (default: today, midnight UTC)."""
    rng = np.random.default_rng(seed)
    as_of = as_of or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    # Tenure is bimodal in real telco bases: many new customers and a loyal long-tenure core.
    tenure = np.where(rng.random(n) < 0.45, rng.integers(0, 13, n), rng.integers(13, 73, n))
    contract_p = np.column_stack(
        [np.full(n, 0.75) - tenure / 120, np.full(n, 0.15) + tenure / 400, np.full(n, 0.10) + tenure / 240]
    )
    contract_p = np.clip(contract_p, 0.02, None)
    contract_p /= contract_p.sum(axis=1, keepdims=True)
    contract_idx = (contract_p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    contract = np.array(["Month-to-month", "One year", "Two year"])[contract_idx]

    internet = rng.choice(["DSL", "Fiber optic", "No"], size=n, p=[0.34, 0.44, 0.22])
    phone = np.where(rng.random(n) < 0.9, "Yes", "No")
    phone[internet == "No"] = "Yes"  # every subscriber has at least one service
    multiple = np.where(phone == "No", "No phone service", np.where(rng.random(n) < 0.45, "Yes", "No"))

    frame = {
        "customerID": customer_ids(rng, n),
        "gender": rng.choice(["Female", "Male"], size=n),
        "SeniorCitizen": np.where(rng.random(n) < 0.16, "1", "0"),
        "Partner": np.where(rng.random(n) < 0.48, "Yes", "No"),
        "tenure": tenure.astype(int),
        "PhoneService": phone,
        "MultipleLines": multiple,
        "InternetService": internet,
    }
    frame["Dependents"] = np.where(rng.random(n) < np.where(frame["Partner"] == "Yes", 0.5, 0.1), "Yes", "No")

    monthly = 20.0 + np.where(phone == "Yes", 0.0, -5.0) + np.where(multiple == "Yes", 5.0, 0.0)
    monthly += np.select([internet == "DSL", internet == "Fiber optic"], [25.0, 50.0], 0.0)
    for addon in _ADDONS:
        takes = rng.random(n) < np.where(internet == "Fiber optic", 0.45, 0.4)
        frame[addon] = np.where(internet == "No", "No internet service", np.where(takes, "Yes", "No"))
        monthly += np.where(frame[addon] == "Yes", _ADDON_PRICE[addon], 0.0)
    monthly = np.round(monthly + rng.normal(0, 2.0, n), 2).clip(18.0, None)

    # A recent price rise: the current bill is above the customer's historic average.
    price_rise = rng.random(n) < 0.2
    historic = monthly * np.where(price_rise, rng.uniform(0.75, 0.9, n), rng.uniform(0.97, 1.03, n))
    total = np.round(historic * tenure, 2)

    payment = rng.choice(
        ["Electronic check", "Mailed check", "Bank transfer (automatic)", "Credit card (automatic)"],
        size=n,
        p=[0.34, 0.23, 0.22, 0.21],
    )
    no_support = frame["TechSupport"] == "No"
    contacts = rng.poisson(0.4 + 1.2 * ((internet == "Fiber optic") & no_support) + 0.8 * price_rise)

    logit = (
        -1.9
        + 1.4 * (contract == "Month-to-month")
        - 1.2 * (contract == "Two year")
        - 0.035 * tenure
        + 0.8 * (internet == "Fiber optic")
        + 0.55 * (payment == "Electronic check")
        - 0.45 * (frame["TechSupport"] == "Yes")
        - 0.35 * (frame["OnlineSecurity"] == "Yes")
        + 0.7 * price_rise
        + 0.35 * contacts
        + 0.25 * (frame["SeniorCitizen"] == "1")
        - 0.2 * (frame["Partner"] == "Yes")
        + rng.normal(0, 0.5, n)
    )
    churn = rng.random(n) < 1 / (1 + np.exp(-logit))

    observed = [as_of - timedelta(seconds=int(s)) for s in rng.integers(3600, 90 * 86400, n)]
    frame.update(
        {
            "Contract": contract,
            "PaperlessBilling": np.where(rng.random(n) < 0.6, "Yes", "No"),
            "PaymentMethod": payment,
            "MonthlyCharges": monthly,
            "TotalCharges": np.where(tenure == 0, np.nan, total),
            "support_contacts_90d": contacts.astype(int),
            "Churn": np.where(churn, "Yes", "No"),
            "event_timestamp": pd.to_datetime(observed, utc=True),
        }
    )
    columns = [
        "customerID",
        "gender",
        "SeniorCitizen",
        "Partner",
        "Dependents",
        "tenure",
        "PhoneService",
        "MultipleLines",
        "InternetService",
        *_ADDONS,
        "Contract",
        "PaperlessBilling",
        "PaymentMethod",
        "MonthlyCharges",
        "TotalCharges",
        "support_contacts_90d",
        "Churn",
        "event_timestamp",
    ]
    return pd.DataFrame(frame)[columns]


GENERATORS: dict[str, Callable[..., pd.DataFrame]] = {
    "telco_subscribers": telco_subscribers,
    "support_messages": support_messages,
    "telco_offer_responses": telco_offer_responses,
}


def generate(name: str, n: int, seed: int = 7) -> pd.DataFrame:
    try:
        return GENERATORS[name](n=n, seed=seed)
    except KeyError:
        raise NotFoundError(f"no data generator '{name}'; known: {', '.join(GENERATORS)}") from None
