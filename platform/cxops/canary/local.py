"""The local canary backend: the gateway's routing table read from the canary records, and a supervisor that
keeps a model server running for every version the table needs.

The table is re-read from the metadata store at most every `ttl_s` seconds, so `cxops canary set` (from any
process) takes effect within that time. A candidate only receives traffic once its server answers; until
then its share goes to stable. When the gateway finds the candidate dead, the canary is rolled back with the
reason as evidence.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

from cxops.canary.routing import Backend, Route, RoutingTable, Shadow
from cxops.canary.service import CanaryRecord, CanaryService
from cxops.governance.identity import Actor

__all__ = ["CONTROLLER", "DatabaseRoutes", "ServerLauncher", "VersionServers", "local_routes"]

logger = logging.getLogger(__name__)

CONTROLLER = "canary-controller"
"""The user the platform acts as when it rolls a canary back by itself (an SRE in policies/roles.yaml)."""

ServerLauncher = Callable[[str, int], AbstractContextManager[Any]]
"""`launch(model, version)`: a context manager that runs the version's model server and yields an object
with a `url` (for example `cxops.serving.server.start_server` on the version's bento)."""


class VersionServers:
    """Model servers by (model, version), started on demand in the background and stopped when no longer
    needed."""

    def __init__(self, launch: ServerLauncher) -> None:
        self._launch = launch
        self._stack = contextlib.ExitStack()
        self._urls: dict[tuple[str, int], str] = {}
        self._starting: set[tuple[str, int]] = set()
        self._failed: dict[tuple[str, int], str] = {}
        self._lock = threading.Lock()

    def url(self, model: str, version: int) -> str | None:
        """The server's URL once it is ready; asks for it to be started otherwise."""
        key = (model, version)
        with self._lock:
            if key in self._urls:
                return self._urls[key]
            if key in self._starting or key in self._failed:
                return None
            self._starting.add(key)
        threading.Thread(
            target=self._start, args=(key,), name=f"serve-{model}-{version}", daemon=True
        ).start()
        return None

    def failure(self, model: str, version: int) -> str | None:
        return self._failed.get((model, version))

    def wait(self, model: str, version: int, timeout: float = 180.0) -> str:
        """Block until the version's server is ready (used at start-up for the stable versions)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            url = self.url(model, version)
            if url is not None:
                return url
            if (model, version) in self._failed:
                raise RuntimeError(self._failed[(model, version)])
            time.sleep(0.1)
        raise TimeoutError(f"the server of {model}:{version} was not ready within {timeout:.0f} s")

    def _start(self, key: tuple[str, int]) -> None:
        try:
            server = self._stack.enter_context(self._launch(*key))
        except Exception as error:  # reported through failure(); the route keeps its stable side
            logger.exception("could not start the server of %s:%s", *key)
            with self._lock:
                self._starting.discard(key)
                self._failed[key] = f"the server of {key[0]}:{key[1]} did not start: {error}"
            return
        with self._lock:
            self._starting.discard(key)
            self._urls[key] = str(server.url)

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> VersionServers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DatabaseRoutes:
    """The gateway's table provider for `models`: production as stable, and the active canary if any."""

    def __init__(
        self,
        canaries: CanaryService,
        models: Sequence[str],
        servers: VersionServers,
        *,
        ttl_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.canaries = canaries
        self.models = list(models)
        self.servers = servers
        self.ttl_s = ttl_s
        self._clock = clock
        self._table: RoutingTable | None = None
        self._read_at = float("-inf")
        # Re-entrant: reading the table may roll a canary back, which clears the table.
        self._lock = threading.RLock()

    def __call__(self) -> RoutingTable:
        with self._lock:
            if self._table is None or self._clock() - self._read_at >= self.ttl_s:
                self._table = RoutingTable(routes=tuple(r for m in self.models if (r := self._route(m))))
                self._read_at = self._clock()
            return self._table

    def _route(self, model: str) -> Route | None:
        canary = self.canaries.active(model)
        production = self.canaries.gov.production_version(model)
        stable_version = canary.stable_version if canary else production.version if production else None
        if stable_version is None:
            return None
        stable_url = self.servers.url(model, stable_version)
        if stable_url is None:
            # A new stable version (a rollback to an earlier one, say) is starting: the old one answers.
            previous = self._previous(model)
            return None if previous is None else Route(model=model, stable=previous.stable)
        stable = Backend(version=str(stable_version), url=stable_url)
        if canary is None:
            return Route(model=model, stable=stable)
        candidate_url = self.servers.url(model, canary.candidate_version)
        if candidate_url is None:
            problem = self.servers.failure(model, canary.candidate_version)
            if problem is not None:
                self._roll_back(model, problem)
            return Route(model=model, stable=stable)
        candidate = Backend(version=str(canary.candidate_version), url=candidate_url)
        if canary.mode == "shadow":
            return Route(
                model=model,
                stable=stable,
                shadow=Shadow(version=candidate.version, url=candidate.url, percent=canary.percent),
            )
        return Route(
            model=model,
            stable=stable,
            candidate=candidate,
            percent=canary.percent,
            canary_id=canary.deployment_id,
        )

    def _previous(self, model: str) -> Route | None:
        if self._table is None:
            return None
        return next((route for route in self._table.routes if route.model == model), None)

    def on_candidate_failure(self, model: str, reason: str) -> None:
        """The gateway found the candidate dead or failing: roll the canary back, with the reason."""
        self._roll_back(model, reason)

    def _roll_back(self, model: str, reason: str) -> CanaryRecord | None:
        gov = self.canaries.gov
        controller = Actor(CONTROLLER, tuple(gov.roles.roles_of(CONTROLLER)))
        try:
            record = self.canaries.rollback(
                controller,
                model,
                reason=f"candidate unhealthy: {reason}",
                evidence={"verdict": "fail", "explanation": reason},
            )
        except Exception:  # already ended, or the store is unreachable: the gateway keeps serving stable
            logger.exception("could not roll back the canary of %s", model)
            return None
        with self._lock:
            self._table = None  # read again at once
        return record


@contextlib.contextmanager
def local_routes(
    canaries: CanaryService, models: Sequence[str], launch: ServerLauncher, *, ttl_s: float = 1.0
) -> Iterator[DatabaseRoutes]:
    """Servers for the production versions of `models`, ready, and the table provider over them."""
    with VersionServers(launch) as servers:
        for model in models:
            production = canaries.gov.production_version(model)
            if production is not None:
                servers.wait(model, production.version)
        yield DatabaseRoutes(canaries, models, servers, ttl_s=ttl_s)
