from __future__ import annotations

import pandas as pd

from cxops.canary.consent import ProfilingOptOut


class FakeFeast:
    def __init__(self, rows: dict[str, str | None]) -> None:
        self.rows, self.calls = rows, 0

    def online_view(self, view: str, join_key: str, keys: list[str]) -> pd.DataFrame:
        assert (view, join_key) == ("customer_consent", "customer_pid")
        self.calls += 1
        return pd.DataFrame({join_key: keys, "profiling_opt_out": [self.rows.get(k) for k in keys]})


def test_objecting_and_unknown_customers_stay_on_stable() -> None:
    opt_out = ProfilingOptOut(FakeFeast({"a": "No", "b": "Yes"}))
    assert (opt_out("a"), opt_out("b"), opt_out("nobody")) == (False, True, True)


def test_answers_are_cached_for_a_while() -> None:
    now = [0.0]
    feast = FakeFeast({"a": "No"})
    opt_out = ProfilingOptOut(feast, ttl_s=60, clock=lambda: now[0])
    opt_out("a"), opt_out("a")
    assert feast.calls == 1
    now[0] = 61.0
    opt_out("a")
    assert feast.calls == 2
