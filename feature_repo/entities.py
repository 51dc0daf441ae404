"""Entities: who features are about. Join keys are pseudonyms, never raw customer identifiers."""

from __future__ import annotations

from feast import Entity, ValueType
from governance import OWNER, TEAM

customer = Entity(
    name="customer",
    join_keys=["customer_pid"],
    # Declared, not inferred: inference would read the parquet sources, which may not exist yet.
    value_type=ValueType.STRING,
    description="A subscriber, keyed by the keyed-HMAC pseudonym of its customerID (cxops.privacy).",
    owner=OWNER,
    tags={
        "data_category": "identifier",
        "personal_data": "true",
        "pseudonymised": "true",
        "owner": OWNER,
        "team": TEAM,
    },
)

offer = Entity(
    name="offer",
    join_keys=["offer_id"],
    value_type=ValueType.STRING,
    description="An offer of the catalogue in policies/offers.yaml (service, option, contract, retention).",
    owner=OWNER,
    tags={"personal_data": "false", "owner": OWNER, "team": TEAM},
)
