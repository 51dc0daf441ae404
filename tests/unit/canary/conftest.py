"""Fixtures of the canary tests: model versions placed in a stage underneath governance (these tests are
about canaries, not about the gates that promotion checks)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa

from cxops.registry import Registry, Stage

PlaceVersion = Callable[[Registry, Stage], int]


def _place(registry: Registry, stage: Stage) -> int:
    record = registry.register_version(
        "churn",
        metrics={},
        artifacts={},
        params={},
        lineage={},
        owner="o",
        team="t",
        created_by="maya",
        dataset_version=None,
    )
    with registry.engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE model_versions SET stage = :stage WHERE model = 'churn' AND version = :version"),
            {"stage": stage.value, "version": record.version},
        )
    return record.version


@pytest.fixture
def place_version() -> PlaceVersion:
    """`place_version(registry, Stage.STAGING)`: a new churn version in that stage; returns its number."""
    return _place
