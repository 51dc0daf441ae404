"""Fixtures of the governance tests: governance over a fresh metadata store on each backend, and churn
versions whose gates can be made to pass or fail one by one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cxops.config import Settings
from cxops.governance.service import Governance
from cxops.registry import ModelVersionRecord

PASSING_METRICS = {"roc_auc": 0.85, "pr_auc": 0.65, "recall": 0.70, "f1": 0.62}

MakeVersion = Callable[..., ModelVersionRecord]


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(home=tmp_path / "home", database_url=database_url)


@pytest.fixture
def gov(settings: Settings) -> Iterator[Governance]:
    # A fixed "now" inside every DPIA's review period, so the tests do not age.
    with Governance.from_settings(settings) as opened:
        opened.clock = lambda: datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
        yield opened


def churn_predictions(rows: int = 1200, recall_gap: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """Test predictions of a churn model: recall is 0.8 for women and 0.8 - `recall_gap` for men."""
    rng = np.random.default_rng(seed)
    gender = rng.choice(["Female", "Male"], rows)
    y_true = (rng.random(rows) < 0.3).astype(int)
    recall = np.where(gender == "Female", 0.8, 0.8 - recall_gap)
    y_pred = np.where(y_true == 1, rng.random(rows) < recall, rng.random(rows) < 0.1).astype(int)
    return pd.DataFrame(
        {
            "y_true": y_true,
            "y_score": np.clip(y_pred * 0.6 + rng.random(rows) * 0.4, 0, 1),
            "y_pred": y_pred,
            "gender": gender,
            "SeniorCitizen": rng.choice(["0", "1"], rows, p=[0.8, 0.2]),
            "Partner": rng.choice(["No", "Yes"], rows),
        }
    )


@pytest.fixture
def make_version(gov: Governance, tmp_path: Path) -> MakeVersion:
    """`make_version(metrics=..., recall_gap=..., validated=..., author=..., rows=...)`: a registered churn
    candidate with a recorded dataset, a validation and an evaluation directory holding its predictions."""
    counter = iter(range(1, 1000))

    def make(
        *,
        metrics: dict[str, Any] | None = None,
        recall_gap: float = 0.0,
        validated: bool = True,
        author: str = "maya",
        rows: int = 1200,
    ) -> ModelVersionRecord:
        n = next(counter)
        registry = gov.registry
        dataset = f"ds{n}"
        registry.record_dataset("churn", dataset, tmp_path / f"{dataset}.parquet", 1200, "test")
        validation = registry.record_validation("churn", dataset, "churn_raw", validated)
        evaluation = tmp_path / f"evaluation-{n}"
        evaluation.mkdir()
        churn_predictions(rows, recall_gap=recall_gap, seed=n).to_parquet(evaluation / "predictions.parquet")
        return registry.register_version(
            "churn",
            metrics=metrics or PASSING_METRICS,
            artifacts={"evaluation": evaluation},
            params={},
            lineage={"validation_id": validation},
            owner="retention-analytics@cxops.example",
            team="customer-retention",
            created_by=author,
            dataset_version=dataset,
        )

    return make
