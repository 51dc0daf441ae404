"""Feature views about offers, and the consent record of each customer.

`offer_catalogue` is written from policies/offers.yaml by the recommendation pipeline, stamped with the
time the catalogue took effect, so point-in-time joins see the offer as it was when it was made.
`customer_consent` is not a model input: the recommendation server reads it online to apply the
marketing-consent and objection-to-profiling rules, so consent lives where the customer's features do,
under the same pseudonym.
"""

from __future__ import annotations

from datetime import timedelta

from entities import customer, offer
from feast import FeatureView, Field, FileSource
from feast.types import Float64, String
from governance import OWNER, field, view_tags

TIMESTAMP = "event_timestamp"
VALUE_OWNER = "customer-value@cxops.example"


def _source(view: str) -> FileSource:
    return FileSource(
        name=f"{view}_source",
        path=f"data/{view}.parquet",
        timestamp_field=TIMESTAMP,
        description=f"Rows of the {view} feature view, written by cxops.features",
    )


_offer = [
    Field(name="offer_kind", dtype=String, description="service, add_on, contract or retention"),
    Field(name="offer_monthly_price", dtype=Float64, description="Change to the monthly bill when accepted"),
]
offer_catalogue = FeatureView(
    name="offer_catalogue",
    entities=[offer],
    ttl=timedelta(days=3650),
    schema=[Field(name="offer_id", dtype=String), *_offer],
    source=_source("offer_catalogue"),
    description="The offers of policies/offers.yaml and their terms.",
    owner=VALUE_OWNER,
    tags={"personal_data": "false", "owner": VALUE_OWNER, "team": "customer-value"},
)

_consent = [
    field("marketing_consent", String, "consent", "'Yes' / 'No'; missing when no consent record exists"),
    field("profiling_opt_out", String, "consent", "'Yes' when the customer objected to profiling (art. 21)"),
]
customer_consent = FeatureView(
    name="customer_consent",
    entities=[customer],
    ttl=timedelta(days=3650),
    schema=[Field(name="customer_pid", dtype=String), *_consent],
    source=_source("customer_consent"),
    description="Consent to marketing and objection to profiling, as last recorded.",
    owner=OWNER,
    tags=view_tags(_consent),
)
