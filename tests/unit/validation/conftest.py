from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cxops.config import Settings
from cxops.data.generators import telco_subscribers
from cxops.data.loaders import coerce
from cxops.data.messages import support_messages
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


@pytest.fixture(scope="session")
def intent_spec(settings: Settings) -> ModelSpec:
    return load_spec("intent", settings)


@pytest.fixture(scope="session")
def sentiment_spec(settings: Settings) -> ModelSpec:
    return load_spec("sentiment", settings)


@pytest.fixture(scope="session")
def _messages(intent_spec: ModelSpec) -> pd.DataFrame:
    return coerce(support_messages(n=400, seed=1), intent_spec)


@pytest.fixture
def messages(_messages: pd.DataFrame) -> pd.DataFrame:
    """A valid coerced frame of 400 generated support messages (intent and sentiment labels)."""
    return _messages.copy()
