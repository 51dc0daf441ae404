"""Customer ids for the built-in generators."""

from __future__ import annotations

import string

import numpy as np

__all__ = ["customer_ids"]


def customer_ids(rng: np.random.Generator, n: int) -> list[str]:
    """Unique ids in the IBM style ("7590-VHVEG"), in draw order so a seed always gives the same ids."""
    letters = np.array(list(string.ascii_uppercase))
    ids: dict[str, None] = {}
    while len(ids) < n:
        digits = rng.integers(0, 10_000, size=n)
        suffix = rng.choice(letters, size=(n, 5))
        ids.update(dict.fromkeys(f"{d:04d}-{''.join(s)}" for d, s in zip(digits, suffix, strict=True)))
    return list(ids)[:n]
