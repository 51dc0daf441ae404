"""Fixtures of the registry tests: an open registry on each backend, and a short way to register a version."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cxops.registry import ModelVersionRecord, Registry

Register = Callable[..., ModelVersionRecord]


@pytest.fixture
def registry(database_url: str) -> Iterator[Registry]:
    with Registry(database_url) as opened:
        yield opened


@pytest.fixture
def register(registry: Registry) -> Register:
    """`register("churn", metrics={...})`: a version with plausible defaults for whatever is not given."""

    def _register(model: str = "churn", **overrides: Any) -> ModelVersionRecord:
        values: dict[str, Any] = {
            "metrics": {"roc_auc": 0.84},
            "artifacts": {"model": f"file:///artifacts/{model}/model"},
            "params": {"max_depth": 4},
            "lineage": {"feature_service": f"{model}_features"},
            "owner": "ana@example.com",
            "team": "retention",
            "created_by": "ci",
            "dataset_version": None,
        }
        values.update(overrides)
        return registry.register_version(model, **values)

    return _register
