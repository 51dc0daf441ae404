"""Feature views about a customer: account, subscribed services and billing.

Each view reads a parquet file written by `cxops.features` (one row per customer_pid and
event_timestamp). Source paths are relative: Feast resolves them under the repository path, which the
platform sets to <CXOps home>/feast. Feast types are chosen so online reads return Python int, float
and str; missing values come back as None.
"""

from __future__ import annotations

from datetime import timedelta

from entities import customer
from feast import FeatureView, Field, FileSource
from feast.types import Float64, Int64, String
from governance import OWNER, field, view_tags

TTL = timedelta(days=400)
"""Older rows are ignored by point-in-time joins and materialisation: a year of history and some slack."""
TIMESTAMP = "event_timestamp"
JOIN_KEY = Field(name="customer_pid", dtype=String)  # declared so no schema inference touches the files


def _source(view: str) -> FileSource:
    return FileSource(
        name=f"{view}_source",
        path=f"data/{view}.parquet",
        timestamp_field=TIMESTAMP,
        description=f"Rows of the {view} feature view, written by cxops.features",
    )


_account = [
    field("SeniorCitizen", String, "demographic", "'1' for customers aged 65 or over"),
    field("Partner", String, "demographic"),
    field("Dependents", String, "demographic"),
    field("tenure", Int64, "contract", "Months with the operator"),
    field("Contract", String, "contract"),
    field("PaperlessBilling", String, "billing"),
    field("PaymentMethod", String, "billing"),
    field("support_contacts_90d", Int64, "usage", "Support contacts in the last 90 days"),
]
customer_account = FeatureView(
    name="customer_account",
    entities=[customer],
    ttl=TTL,
    schema=[JOIN_KEY, *_account],
    source=_source("customer_account"),
    description="Who the customer is and the terms of their contract.",
    owner=OWNER,
    tags=view_tags(_account),
)

_services = [
    field("PhoneService", String, "contract"),
    field("MultipleLines", String, "contract"),
    field("InternetService", String, "contract"),
    field("OnlineSecurity", String, "contract"),
    field("OnlineBackup", String, "contract"),
    field("DeviceProtection", String, "contract"),
    field("TechSupport", String, "contract"),
    field("StreamingTV", String, "contract"),
    field("StreamingMovies", String, "contract"),
    field("num_services", Int64, "contract", "Services subscribed, internet access included"),
]
customer_services = FeatureView(
    name="customer_services",
    entities=[customer],
    ttl=TTL,
    schema=[JOIN_KEY, *_services],
    source=_source("customer_services"),
    description="The services the customer subscribes to.",
    owner=OWNER,
    tags=view_tags(_services),
)

_billing = [
    field("MonthlyCharges", Float64, "billing", "Current monthly bill"),
    field("TotalCharges", Float64, "billing", "Billed since the start of the contract (0 for new customers)"),
    field("avg_monthly_spend", Float64, "billing", "TotalCharges / tenure"),
    field("charge_trend", Float64, "billing", "MonthlyCharges - avg_monthly_spend: a price-rise signal"),
]
customer_billing = FeatureView(
    name="customer_billing",
    entities=[customer],
    ttl=TTL,
    schema=[JOIN_KEY, *_billing],
    source=_source("customer_billing"),
    description="What the customer pays.",
    owner=OWNER,
    tags=view_tags(_billing),
)
