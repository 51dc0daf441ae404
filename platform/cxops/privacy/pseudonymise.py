"""Keyed pseudonyms for customer identifiers (HMAC-SHA256), so stored features never hold a raw id.

The same key always gives the same pseudonym, which is what lets features, labels and online look-ups
join on it; without the key a pseudonym cannot be linked back to the customer (GDPR art. 4(5)).
Neither logs nor error messages here ever carry an identifier, raw or pseudonymised.
"""

from __future__ import annotations

import hashlib
import hmac

import pandas as pd

from cxops.errors import ConflictError, InvalidInputError
from cxops.specs import ModelSpec

__all__ = ["MIN_KEY_BYTES", "PREFIX", "pseudonymise", "pseudonymise_frame", "pseudonymise_series"]

PREFIX = "cx_"
_HEX_CHARS = 32  # 128 bits of the digest: collisions are negligible for any customer base
MIN_KEY_BYTES = 16
"""A short key can be brute-forced from known ids (the IBM id space is ~10^11), undoing the pseudonyms."""


def _keyed(key: bytes) -> hmac.HMAC:
    if not isinstance(key, bytes | bytearray):
        raise InvalidInputError(
            f"pseudonym key must be bytes, not {type(key).__name__}; use Settings.pseudonym_key_bytes()"
        )
    if len(key) < MIN_KEY_BYTES:
        raise InvalidInputError(
            f"pseudonym key is {len(key)} bytes; use at least {MIN_KEY_BYTES} (set CXOPS_PSEUDONYM_KEY "
            "to a long random secret, or unset it to use the key generated in the CXOps home)"
        )
    return hmac.new(bytes(key), digestmod=hashlib.sha256)


def _digest(base: hmac.HMAC, value: str) -> str:
    mac = base.copy()  # reuses the keyed inner/outer state: no re-keying per value
    mac.update(value.encode("utf-8"))
    return PREFIX + mac.hexdigest()[:_HEX_CHARS]


def pseudonymise(value: str, key: bytes) -> str:
    """`"cx_"` + the first 32 hex characters of HMAC-SHA256(key, value); deterministic for a key."""
    if not isinstance(value, str) or value == "":
        raise InvalidInputError("an identifier to pseudonymise must be a non-empty string")
    return _digest(_keyed(key), value)


def pseudonymise_series(series: pd.Series, key: bytes) -> pd.Series:
    """Pseudonym of every value (same index and name); each distinct id is hashed once."""
    base = _keyed(key)
    missing = int(series.isna().sum())
    if missing:
        raise InvalidInputError(
            f"column '{series.name}' has {missing} empty identifier(s); "
            "every row needs one before it can be pseudonymised"
        )
    text = series.astype(str)
    empty = int((text == "").sum())
    if empty:
        raise InvalidInputError(
            f"column '{series.name}' has {empty} empty identifier(s); "
            "every row needs one before it can be pseudonymised"
        )
    codes, uniques = pd.factorize(text)
    pseudonyms = [_digest(base, value) for value in uniques]
    return pd.Series([pseudonyms[c] for c in codes], index=series.index, name=series.name, dtype=object)


def pseudonymise_frame(frame: pd.DataFrame, spec: ModelSpec, key: bytes) -> pd.DataFrame:
    """Copy of `frame` with the raw entity key replaced by its pseudonym under the Feast join key.

    `spec.data.entity_key` (e.g. `customerID`) becomes `spec.features.join_key` (e.g. `customer_pid`) at
    the same column position and the raw column is dropped; any other `spec.privacy.pseudonymised_fields`
    present are pseudonymised in place.
    """
    raw_key, join_key = spec.data.entity_key, spec.features.join_key
    if raw_key not in frame.columns:
        raise InvalidInputError(
            f"model '{spec.name}': the frame has no '{raw_key}' column to pseudonymise; "
            f"it is data.entity_key in models/{spec.name}/spec.yaml"
        )
    if join_key in frame.columns:
        raise ConflictError(
            f"model '{spec.name}': the frame already has a '{join_key}' column; "
            f"pseudonymise the raw '{raw_key}' only once"
        )
    out = frame.copy()
    position = out.columns.get_loc(raw_key)
    pseudonyms = pseudonymise_series(out.pop(raw_key), key).rename(join_key)
    out.insert(position, join_key, pseudonyms)
    for name in spec.privacy.pseudonymised_fields:
        if name != raw_key and name in out.columns:
            out[name] = pseudonymise_series(out[name], key)
    return out
