from __future__ import annotations

import hashlib
import hmac
import logging
import re

import pandas as pd
import pytest

from cxops.config import Settings
from cxops.data.generators import telco_subscribers
from cxops.data.loaders import coerce
from cxops.errors import ConflictError, InvalidInputError
from cxops.privacy import pseudonymise, pseudonymise_frame, pseudonymise_series
from cxops.specs import load_spec

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
PSEUDONYM = re.compile(r"^cx_[0-9a-f]{32}$")


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path)


@pytest.fixture
def spec(settings):
    return load_spec("churn", settings)


def test_pseudonym_is_keyed_hmac_sha256_with_prefix() -> None:
    expected = "cx_" + hmac.new(KEY, b"7590-VHVEG", hashlib.sha256).hexdigest()[:32]
    assert pseudonymise("7590-VHVEG", KEY) == expected
    assert PSEUDONYM.match(expected)


def test_pseudonym_is_deterministic_for_a_key_and_differs_across_keys_and_ids() -> None:
    assert pseudonymise("7590-VHVEG", KEY) == pseudonymise("7590-VHVEG", KEY)
    assert pseudonymise("7590-VHVEG", KEY) != pseudonymise("7590-VHVEG", OTHER_KEY)
    assert pseudonymise("7590-VHVEG", KEY) != pseudonymise("5575-GNVDE", KEY)


@pytest.mark.parametrize("key", [b"", b"short-key", "a text key of enough length"])
def test_weak_or_non_bytes_keys_are_refused(key) -> None:
    with pytest.raises(InvalidInputError, match="pseudonym key"):
        pseudonymise("7590-VHVEG", key)


def test_settings_key_is_usable_and_stable(settings) -> None:
    key = settings.pseudonym_key_bytes()
    assert pseudonymise("7590-VHVEG", key) == pseudonymise("7590-VHVEG", settings.pseudonym_key_bytes())
    assert pseudonymise("7590-VHVEG", key) != pseudonymise(
        "7590-VHVEG", Settings(home=settings.home / "other").pseudonym_key_bytes()
    )


def test_series_matches_scalar_and_keeps_index_and_name() -> None:
    ids = pd.Series(["7590-VHVEG", "5575-GNVDE", "7590-VHVEG"], index=[10, 20, 30], name="customerID")
    out = pseudonymise_series(ids, KEY)
    assert list(out.index) == [10, 20, 30] and out.name == "customerID"
    assert list(out) == [pseudonymise(v, KEY) for v in ids]
    assert out[10] == out[30] != out[20]


def test_series_with_missing_ids_fails_without_echoing_any_id() -> None:
    ids = pd.Series(["7590-VHVEG", None, ""], name="customerID")
    with pytest.raises(InvalidInputError) as caught:
        pseudonymise_series(ids, KEY)
    assert "7590" not in str(caught.value) and "customerID" in str(caught.value)


def test_frame_replaces_the_entity_key_by_the_join_key_in_place(spec, caplog) -> None:
    raw = coerce(telco_subscribers(50, seed=3), spec)
    raw_ids = set(raw["customerID"])
    with caplog.at_level(logging.DEBUG):
        out = pseudonymise_frame(raw, spec, KEY)

    assert "customerID" not in out.columns
    assert list(out.columns) == ["customer_pid", *[c for c in raw.columns if c != "customerID"]]
    assert list(out["customer_pid"]) == [pseudonymise(v, KEY) for v in raw["customerID"]]
    assert out["customer_pid"].map(lambda v: bool(PSEUDONYM.match(v))).all()
    pd.testing.assert_frame_equal(out.drop(columns="customer_pid"), raw.drop(columns="customerID"))
    assert "customerID" in raw.columns  # the input is not modified
    # No raw identifier survives anywhere: not in any cell, not in the log.
    cells = {str(v) for v in out.astype(str).to_numpy().ravel()}
    assert not raw_ids & cells
    assert not any(raw_id in caplog.text for raw_id in raw_ids)


def test_frame_refuses_a_frame_without_the_entity_key_or_already_pseudonymised(spec) -> None:
    raw = coerce(telco_subscribers(5, seed=3), spec)
    done = pseudonymise_frame(raw, spec, KEY)
    with pytest.raises(InvalidInputError, match="customerID"):
        pseudonymise_frame(done, spec, KEY)
    with pytest.raises(ConflictError, match="customer_pid"):
        pseudonymise_frame(done.assign(customerID=raw["customerID"]), spec, KEY)
