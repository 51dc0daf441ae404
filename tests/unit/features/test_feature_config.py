from __future__ import annotations

import pandas as pd
import pytest

from cxops.config import Settings
from cxops.errors import InvalidInputError
from cxops.features import redis_connection_string, repo_config
from cxops.features._types import typed


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/0", "127.0.0.1:6379,db=0"),
        ("redis://cache", "cache:6379,db=0"),
        ("redis://:s3cr%40t@cache.internal:6380/2", "cache.internal:6380,db=2,password=s3cr@t"),
        ("rediss://feast:pw@cache:6379/1", "cache:6379,db=1,username=feast,password=pw,ssl=true"),
    ],
)
def test_redis_url_becomes_a_feast_connection_string(url, expected) -> None:
    assert redis_connection_string(url) == expected


@pytest.mark.parametrize(
    "url",
    ["http://cache:6379/0", "redis://cache:6379/zero", "redis://[::1]:6379/0", "redis://:a,b@cache:6379/0"],
)
def test_unusable_redis_urls_are_refused_without_echoing_secrets(url) -> None:
    with pytest.raises(InvalidInputError) as caught:
        redis_connection_string(url)
    assert "a,b" not in str(caught.value)


def test_embedded_config_keeps_every_store_under_the_feast_dir(tmp_path) -> None:
    settings = Settings(home=tmp_path, feast_project="churn_dev")
    config = repo_config(settings)
    assert config.project == "churn_dev"
    assert config.repo_path == settings.feast_dir
    assert config.registry.registry_type == "file"
    assert config.registry.path == str(settings.feast_dir / "registry.db")
    assert config.online_store.type == "sqlite"
    assert config.online_store.path == str(settings.feast_dir / "online_store.db")
    assert config.offline_store.type == "file"
    assert config.entity_key_serialization_version == 3


def test_redis_online_store_is_chosen_by_settings(tmp_path) -> None:
    config = repo_config(Settings(home=tmp_path, online_store="redis", redis_url="redis://10.0.0.5:6379/3"))
    assert config.online_store.type == "redis"
    assert config.online_store.connection_string == "10.0.0.5:6379,db=3"


def test_invalid_project_names_are_refused(tmp_path) -> None:
    with pytest.raises(InvalidInputError, match="CXOPS_FEAST_PROJECT"):
        repo_config(Settings(home=tmp_path, feast_project="churn-dev"))


def test_typed_gives_one_dtype_per_kind() -> None:
    frame = pd.DataFrame({"c": ["Yes", None, 1], "i": [1.0, None, 3.0], "n": ["2.5", None, 4]})
    out = typed(frame, {"c": "string", "i": "integer", "n": "number"})
    assert list(out["c"]) == ["Yes", None, "1"]
    assert str(out["i"].dtype) == "Int64" and out["i"].isna().tolist() == [False, True, False]
    assert out["n"].dtype == "float64" and out["n"][0] == 2.5
    assert list(frame["i"].isna()) == [False, True, False]  # input untouched


def test_typed_refuses_fractional_integers_and_non_numbers() -> None:
    with pytest.raises(InvalidInputError, match="fractional"):
        typed(pd.DataFrame({"i": [1.5]}), {"i": "integer"})
    with pytest.raises(InvalidInputError, match="not numbers"):
        typed(pd.DataFrame({"n": ["many"]}), {"n": "number"})
