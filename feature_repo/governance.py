"""Ownership and personal-data tags shared by every definition in this repository.

The promotion gates read these tags from the Feast registry: each field carries the personal-data
category it belongs to (`data_category`), and each feature view the categories of its fields, its owner
and its team. Categories are those a model spec may declare under `privacy.personal_data_categories`.
"""

from __future__ import annotations

from feast import Field
from feast.types import FeastType

OWNER = "retention-analytics@cxops.example"
TEAM = "customer-retention"
CATEGORIES = ("identifier", "demographic", "contract", "billing", "usage", "consent")


def field(name: str, dtype: FeastType, category: str, description: str = "") -> Field:
    """A feature with its personal-data category as a tag."""
    if category not in CATEGORIES:
        raise ValueError(f"field '{name}': unknown personal-data category '{category}'; known: {CATEGORIES}")
    return Field(
        name=name,
        dtype=dtype,
        description=description,
        tags={"data_category": category, "personal_data": "true"},
    )


def view_tags(schema: list[Field]) -> dict[str, str]:
    """Tags of a feature view: its fields' categories (comma-separated, in field order), owner and team."""
    categories = [f.tags["data_category"] for f in schema if "data_category" in f.tags]
    return {
        "data_category": ",".join(dict.fromkeys(categories)),
        "personal_data": "true",
        "pseudonymised": "true",
        "owner": OWNER,
        "team": TEAM,
    }
