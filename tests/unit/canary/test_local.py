"""The local backend: the gateway's table follows the canary records, servers start on demand, and a dead
candidate rolls its canary back."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cxops.canary.local import DatabaseRoutes, VersionServers, local_routes
from cxops.canary.service import CanaryService
from cxops.config import Settings
from cxops.governance.service import Governance
from cxops.registry import Stage


@dataclass
class FakeServer:
    url: str


@pytest.fixture
def canaries(tmp_path: Path, sqlite_url: str) -> Iterator[CanaryService]:
    with Governance.from_settings(Settings(home=tmp_path / "home", database_url=sqlite_url)) as gov:
        gov.clock = lambda: datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
        yield CanaryService(gov)


class Launcher:
    """Starts fake servers, or fails for the versions told to."""

    def __init__(self, failing: tuple[int, ...] = ()) -> None:
        self.started: list[tuple[str, int]] = []
        self.stopped: list[tuple[str, int]] = []
        self.failing = failing

    @contextlib.contextmanager
    def __call__(self, model: str, version: int) -> Iterator[FakeServer]:
        if version in self.failing:
            raise RuntimeError("bento missing")
        self.started.append((model, version))
        try:
            yield FakeServer(f"http://127.0.0.1:{9000 + version}")
        finally:
            self.stopped.append((model, version))


def _settle(routes: DatabaseRoutes, servers: VersionServers, model: str, version: int) -> None:
    servers.wait(model, version, timeout=10)
    routes._table = None  # noqa: SLF001 - read again now rather than after the ttl


def test_the_table_follows_the_canary_records(
    place_version: Callable[..., int], canaries: CanaryService
) -> None:
    gov = canaries.gov
    stable, candidate = (
        place_version(gov.registry, Stage.PRODUCTION),
        place_version(gov.registry, Stage.STAGING),
    )
    launcher = Launcher()
    with local_routes(canaries, ["churn"], launcher, ttl_s=0) as routes:
        [route] = routes().routes
        assert (route.stable.version, route.candidate) == (str(stable), None)

        canaries.start(gov.actor("sam"), "churn", candidate, steps=[20, 100])
        routes()  # asks for the candidate's server
        _settle(routes, routes.servers, "churn", candidate)
        [route] = routes().routes
        assert route.candidate is not None and route.candidate.url == f"http://127.0.0.1:{9000 + candidate}"
        assert (route.percent, route.canary_id) == (20.0, "churn-canary-1")

        canaries.set_percent(gov.actor("sam"), "churn", 60)
        assert routes().routes[0].percent == 60.0

        routes.on_candidate_failure("churn", "candidate version '2' of model 'churn' is unreachable")
        [route] = routes().routes
        assert route.candidate is None
    [ended] = canaries.history(gov.actor("sam"), "churn")
    assert ended.status == "rolled_back" and "unreachable" in ended.outcome
    assert gov.registry.audit_events(limit=1)[0].actor == "canary-controller"
    assert sorted(launcher.stopped) == [("churn", stable), ("churn", candidate)]


def test_a_candidate_whose_server_cannot_start_is_rolled_back(
    place_version: Callable[..., int], canaries: CanaryService
) -> None:
    gov = canaries.gov
    place_version(gov.registry, Stage.PRODUCTION)
    candidate = place_version(gov.registry, Stage.STAGING)
    with local_routes(canaries, ["churn"], Launcher(failing=(candidate,)), ttl_s=0) as routes:
        canaries.start(gov.actor("sam"), "churn", candidate)
        routes()
        with pytest.raises(RuntimeError, match="bento missing"):
            routes.servers.wait("churn", candidate, timeout=10)
        [route] = routes().routes
        assert route.candidate is None
    assert canaries.active("churn") is None
    [ended] = canaries.history(gov.actor("sam"), "churn")
    assert "did not start" in ended.outcome


def test_a_shadow_canary_is_a_shadow_route(
    place_version: Callable[..., int], canaries: CanaryService
) -> None:
    gov = canaries.gov
    place_version(gov.registry, Stage.PRODUCTION)
    candidate = place_version(gov.registry, Stage.STAGING)
    with local_routes(canaries, ["churn"], Launcher(), ttl_s=0) as routes:
        canaries.start(gov.actor("sam"), "churn", candidate, shadow=True, shadow_percent=10)
        routes()
        _settle(routes, routes.servers, "churn", candidate)
        [route] = routes().routes
        assert route.candidate is None and route.shadow is not None and route.shadow.percent == 10.0


def test_servers_no_table_needs_are_stopped_after_the_grace_period(
    place_version: Callable[..., int], canaries: CanaryService
) -> None:
    gov = canaries.gov
    stable = place_version(gov.registry, Stage.PRODUCTION)
    candidate = place_version(gov.registry, Stage.STAGING)
    launcher = Launcher()
    with local_routes(canaries, ["churn"], launcher, ttl_s=0, grace_s=0) as routes:
        canaries.start(gov.actor("sam"), "churn", candidate)
        routes()
        _settle(routes, routes.servers, "churn", candidate)
        assert routes().routes[0].candidate is not None
        canaries.rollback(gov.actor("sam"), "churn", reason="latency")
        routes()  # the first table without the candidate
        deadline = time.monotonic() + 10
        while ("churn", candidate) not in launcher.stopped and time.monotonic() < deadline:
            time.sleep(0.01)
        assert launcher.stopped == [("churn", candidate)]  # stable still serves
        assert routes().routes[0].stable.version == str(stable)
    assert launcher.stopped == [("churn", candidate), ("churn", stable)]
