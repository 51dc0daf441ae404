"""Turn metrics, params and lineage into plain JSON before they are stored, so what is read back equals
what was stored, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum
from pathlib import PurePath
from typing import Any

from cxops.registry._errors import RegistryInputError

__all__ = ["to_json"]


def to_json(value: Any, where: str) -> Any:
    """A JSON-ready copy of `value`. NumPy scalars and arrays become Python numbers and lists, paths and dates
    strings, mapping keys strings; NaN and infinities become None (JSON has no such numbers and PostgreSQL's
    JSONB rejects them). Anything else that JSON cannot hold is an error naming where it was found."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Enum):
        return to_json(value.value, where)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str | int | float | bool):
                kind = type(key).__name__
                raise RegistryInputError(f"{where} has a key of type {kind}; use strings as keys")
            out[str(key)] = to_json(item, f"{where}[{key!r}]")
        return out
    if isinstance(value, list | tuple):
        return [to_json(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, set | frozenset):
        return [to_json(item, f"{where}[{i}]") for i, item in enumerate(sorted(value, key=str))]
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return to_json(value.tolist(), where)
    raise RegistryInputError(
        f"{where} holds a {type(value).__name__}, which cannot be stored as JSON; "
        "pass numbers, strings, booleans, lists or dicts"
    )
