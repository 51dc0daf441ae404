"""Routing: sticky, monotone canary buckets per customer; weighted random draws for anonymous requests."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from cxops.canary.errors import CanaryError, CanaryNotFoundError
from cxops.canary.routing import Backend, Route, RoutingTable, Shadow, Side, bucket

STABLE = Backend(version="1", url="http://127.0.0.1:3001")
CANDIDATE = Backend(version="2", url="http://127.0.0.1:3002")
CUSTOMERS = [f"cx_{i:032x}" for i in range(4000)]


def _route(percent: float, canary_id: str = "churn-2") -> Route:
    return Route(model="churn", stable=STABLE, candidate=CANDIDATE, percent=percent, canary_id=canary_id)


def test_buckets_are_uniform_and_depend_on_the_canary_id() -> None:
    buckets = [bucket("churn-2", c) for c in CUSTOMERS]
    assert all(0 <= b < 100 for b in buckets)
    below_25 = sum(b < 25 for b in buckets) / len(buckets)
    assert 0.22 < below_25 < 0.28
    assert bucket("churn-2", CUSTOMERS[0]) == buckets[0]  # fixed for the pair
    other = [bucket("churn-3", c) for c in CUSTOMERS]
    assert sum(a != b for a, b in zip(buckets, other, strict=True)) == len(CUSTOMERS)


def test_customers_keep_their_side_and_raising_the_percent_only_moves_them_to_the_candidate() -> None:
    sides = {}
    for percent in (0, 5, 10, 25, 50, 90, 100):
        route = _route(percent)
        now = {c: route.choose(c) for c in CUSTOMERS}
        assert now == {c: route.choose(c) for c in CUSTOMERS}  # asked again: same answer
        share = sum(s is Side.CANDIDATE for s in now.values()) / len(CUSTOMERS)
        assert abs(share - percent / 100) < 0.03
        for customer, before in sides.items():
            if before is Side.CANDIDATE:
                assert now[customer] is Side.CANDIDATE, f"a customer went back to stable at {percent}%"
        sides = now


def test_a_new_canary_id_redraws_the_customers() -> None:
    first = {c for c in CUSTOMERS if _route(20, "churn-2").choose(c) is Side.CANDIDATE}
    second = {c for c in CUSTOMERS if _route(20, "churn-2b").choose(c) is Side.CANDIDATE}
    assert first != second
    assert abs(len(first) - len(second)) < 0.05 * len(CUSTOMERS)


def test_anonymous_requests_are_drawn_with_the_same_weights_from_the_given_rng() -> None:
    route = _route(30)
    draws = [route.choose(None, rng=random.Random(7)) for _ in range(3)]
    assert len(set(draws)) == 1  # the same seed gives the same draw
    rng = random.Random(11)
    share = sum(route.choose(None, rng=rng) is Side.CANDIDATE for _ in range(5000)) / 5000
    assert abs(share - 0.30) < 0.025


def test_excluded_customers_and_routes_without_a_candidate_go_to_stable() -> None:
    route = _route(100)
    assert route.choose(CUSTOMERS[0]) is Side.CANDIDATE
    assert route.choose(CUSTOMERS[0], excluded=True) is Side.STABLE
    plain = Route(model="churn", stable=STABLE)
    assert plain.choose(CUSTOMERS[0]) is Side.STABLE
    assert plain.choose(None, rng=random.Random(1)) is Side.STABLE
    with pytest.raises(CanaryError, match="no candidate"):
        plain.backend(Side.CANDIDATE)
    assert route.backend(Side.CANDIDATE) == CANDIDATE


def test_pinned_versions_name_their_side() -> None:
    route = _route(10)
    assert route.side_of_version("1") is Side.STABLE
    assert route.side_of_version("2") is Side.CANDIDATE
    assert route.side_of_version("9") is None


def test_invalid_routes_are_rejected_with_the_fix() -> None:
    with pytest.raises(ValidationError, match="names none"):
        Route(model="churn", stable=STABLE, percent=10)
    with pytest.raises(ValidationError, match="canary_id"):
        Route(model="churn", stable=STABLE, candidate=CANDIDATE, percent=10)
    with pytest.raises(ValidationError):
        _route(120)
    with pytest.raises(ValidationError):
        Backend(version="1", url="127.0.0.1:3000")  # no scheme
    with pytest.raises(ValidationError):
        Route.model_validate({"model": "churn", "stable": STABLE.model_dump(), "weight": 3})
    with pytest.raises(ValidationError):
        Shadow(version="3", url="http://127.0.0.1:3003", percent=-1)


def test_the_table_finds_the_route_of_a_model() -> None:
    intent = Route(model="intent", stable=Backend(version="4", url="http://127.0.0.1:3010"))
    table = RoutingTable(routes=(_route(10), intent))
    assert table.route_for("intent") == intent
    with pytest.raises(CanaryNotFoundError, match="'sentiment' is not served"):
        table.route_for("sentiment")
    with pytest.raises(CanaryNotFoundError, match="ambiguous"):
        table.route_for(None)
    assert RoutingTable.single(intent).route_for(None) == intent
    with pytest.raises(ValidationError, match="more than one route"):
        RoutingTable(routes=(intent, intent))
    # Tables compare by content: the gateway uses this to see that the table changed.
    assert _route(10) == _route(10) and _route(10) != _route(20)
