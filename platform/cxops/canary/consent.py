"""Who may be routed to an unproven model: customers who objected to profiling (GDPR art. 21) or to
automated decisions (art. 22) always get the stable version."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["ProfilingOptOut"]


class ProfilingOptOut:
    """`opt_out(pseudonym)` from the Feast `customer_consent` view, cached for `ttl_s` seconds per customer.

    A customer with no consent record counts as opted out: without a record there is no basis to send them
    to a candidate."""

    def __init__(
        self,
        client: Any,
        *,
        view: str = "customer_consent",
        join_key: str = "customer_pid",
        ttl_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client, self.view, self.join_key, self.ttl_s = client, view, join_key, ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def __call__(self, pseudonym: str) -> bool:
        now = self._clock()
        with self._lock:
            cached = self._cache.get(pseudonym)
        if cached is not None and now - cached[0] < self.ttl_s:
            return cached[1]
        row = self.client.online_view(self.view, self.join_key, [pseudonym]).iloc[0]
        opted_out = row.get("profiling_opt_out") != "No"
        with self._lock:
            self._cache[pseudonym] = (now, opted_out)
        return opted_out
