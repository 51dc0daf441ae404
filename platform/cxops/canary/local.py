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
from cxops.canary.service import CONTROLLER, CanaryRecord, CanaryService
from cxops.config import Settings

__all__ = [
    "CONTROLLER",
    "DatabaseRoutes",
    "ServerLauncher",
    "VersionServers",
    "bento_launcher",
    "local_routes",
]

logger = logging.getLogger(__name__)

ServerLauncher = Callable[[str, int], AbstractContextManager[Any]]
"""`launch(model, version)`: a context manager that runs the version's model server and yields an object
with a `url` (for example `cxops.serving.server.start_server` on the version's bento)."""


def bento_launcher(
    canaries: CanaryService, settings: Settings, *, announce: Callable[[str], None] | None = None
) -> ServerLauncher:
    """Launches `bentoml serve` on a version's bento (packaged first if the version has none)."""

    @contextlib.contextmanager
    def launch(model: str, version: int) -> Iterator[Any]:
        from cxops.serving.server import start_server

        bento = canaries.gov.registry.get_version(model, version).bento_tag
        if not bento:
            from cxops.lifecycle import steps

            bento = steps.package(model, version, settings)["bento"]
        with start_server(bento, port=0, settings=settings) as server:
            if announce is not None:
                announce(f"{model} v{version} serving at {server.url}")
            yield server

    return launch


class VersionServers:
    """Model servers by (model, version), started on demand in the background and stopped once no routing
    table has needed them for `grace_s` seconds (`retain`)."""

    def __init__(
        self, launch: ServerLauncher, *, grace_s: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._launch = launch
        self.grace_s = grace_s
        self._clock = clock
        self._stacks: dict[tuple[str, int], contextlib.ExitStack] = {}
        self._unneeded_since: dict[tuple[str, int], float] = {}
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
        stack = contextlib.ExitStack()
        try:
            server = stack.enter_context(self._launch(*key))
        except Exception as error:  # reported through failure(); the route keeps its stable side
            logger.exception("could not start the server of %s:%s", *key)
            with self._lock:
                self._starting.discard(key)
                self._failed[key] = f"the server of {key[0]}:{key[1]} did not start: {error}"
            return
        with self._lock:
            self._starting.discard(key)
            self._urls[key] = str(server.url)
            self._stacks[key] = stack

    def retain(self, needed: set[tuple[str, int]]) -> None:
        """Stop the servers that `needed` has left out for `grace_s` seconds (a rolled-back candidate, a
        replaced production version): long enough for the requests still in flight to them to finish."""
        now, stopping = self._clock(), []
        with self._lock:
            for key in list(self._urls):
                if key in needed:
                    self._unneeded_since.pop(key, None)
                elif now - self._unneeded_since.setdefault(key, now) >= self.grace_s:
                    del self._urls[key], self._unneeded_since[key]
                    stopping.append(self._stacks.pop(key))
        for stack in stopping:  # stopping a server takes a moment: not on the caller's time
            threading.Thread(target=stack.close, name="stop-model-server", daemon=True).start()

    def close(self) -> None:
        with self._lock:
            stacks, self._stacks = list(self._stacks.values()), {}
            self._urls.clear()
        for stack in stacks:
            stack.close()

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
        self._wanted: set[tuple[str, int]] = set()
        self._read_at = float("-inf")
        # Re-entrant: reading the table may roll a canary back, which clears the table.
        self._lock = threading.RLock()

    def __call__(self) -> RoutingTable:
        with self._lock:
            if self._table is None or self._clock() - self._read_at >= self.ttl_s:
                self._wanted = set()
                self._table = RoutingTable(routes=tuple(r for m in self.models if (r := self._route(m))))
                self._read_at = self._clock()
                self.servers.retain(
                    self._wanted
                    | {
                        (route.model, int(backend.version))
                        for route in self._table.routes
                        for backend in (route.stable, route.candidate, route.shadow)
                        if backend is not None
                    }
                )
            return self._table

    def _route(self, model: str) -> Route | None:
        canary = self.canaries.active(model)
        production = self.canaries.gov.production_version(model)
        stable_version = canary.stable_version if canary else production.version if production else None
        if stable_version is None:
            return None
        stable_url = self._url(model, stable_version)
        if stable_url is None:
            # A new stable version (a rollback to an earlier one, say) is starting: the old one answers.
            previous = self._previous(model)
            return None if previous is None else Route(model=model, stable=previous.stable)
        stable = Backend(version=str(stable_version), url=stable_url)
        if canary is None:
            return Route(model=model, stable=stable)
        candidate_url = self._url(model, canary.candidate_version)
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

    def _url(self, model: str, version: int) -> str | None:
        self._wanted.add((model, version))  # asked for: not to be stopped, even before it is routed to
        return self.servers.url(model, version)

    def _previous(self, model: str) -> Route | None:
        if self._table is None:
            return None
        return next((route for route in self._table.routes if route.model == model), None)

    def on_candidate_failure(self, model: str, reason: str) -> None:
        """The gateway found the candidate dead or failing: roll the canary back, with the reason."""
        self._roll_back(model, reason)

    def _roll_back(self, model: str, reason: str) -> CanaryRecord | None:
        controller = self.canaries.controller()
        try:
            active = self.canaries.active(model)
            if active is None:
                return None
            since = active.evidence[-1]["window_end"] if active.evidence else active.started_at
            record = self.canaries.rollback(
                controller,
                model,
                reason=f"candidate unhealthy: {reason}",
                evidence={
                    "verdict": "fail",
                    "explanation": reason,
                    "checks": [
                        {"name": "candidate_health", "verdict": "fail", "explanation": reason, "limit": None}
                    ],
                    "percent": active.percent,
                    "window_start": since,
                    "window_end": self.canaries.gov.clock(),
                },
            )
        except Exception:  # already ended, or the store is unreachable: the gateway keeps serving stable
            logger.exception("could not roll back the canary of %s", model)
            return None
        with self._lock:
            self._table = None  # read again at once
        return record


@contextlib.contextmanager
def local_routes(
    canaries: CanaryService,
    models: Sequence[str],
    launch: ServerLauncher,
    *,
    ttl_s: float = 1.0,
    grace_s: float = 30.0,
) -> Iterator[DatabaseRoutes]:
    """Servers for the production versions of `models`, ready, and the table provider over them."""
    with VersionServers(launch, grace_s=grace_s) as servers:
        for model in models:
            production = canaries.gov.production_version(model)
            if production is not None:
                servers.wait(model, production.version)
        yield DatabaseRoutes(canaries, models, servers, ttl_s=ttl_s)
