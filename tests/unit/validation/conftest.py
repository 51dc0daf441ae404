from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cxops.config import Settings
from cxops.data.generators import telco_subscribers
from cxops.data.loaders import coerce
from cxops.specs import ModelSpec, load_spec


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(home=tmp_path_factory.mktemp("cxops-home"))


@pytest.fixture(scope="session")
def spec(settings: Settings) -> ModelSpec:
    return load_spec("churn", settings)


@pytest.fixture(scope="session")
def _good_frame(spec: ModelSpec) -> pd.DataFrame:
    return coerce(telco_subscribers(n=1000, seed=11), spec)


@pytest.fixture
def good_frame(_good_frame: pd.DataFrame) -> pd.DataFrame:
    """A valid coerced frame of 1,000 generated subscribers; each test gets its own copy to spoil."""
    return _good_frame.copy()


@pytest.fixture
def report_dir(tmp_path: Path) -> Path:
    return tmp_path / "validation"
