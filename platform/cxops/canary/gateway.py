"""The local canary gateway: one address in front of a model's stable and candidate servers.

Every model route (KServe V1, Open Inference Protocol V2, the plain JSON API, health and metadata) is
proxied with its path, query, body and headers. Inference requests (POST) are split by the current
routing table: sticky per customer pseudonym, stable for customers who objected to automated decisions
by an unproven model, random for requests that name no customer. A request pinned to a version
(`/v2/models/{name}/versions/{v}/infer`) goes to the side serving it; other GETs go to stable.

A request the candidate fails (unreachable, or 5xx) is retried once on stable, so the client sees no
error, and the failure is logged for the analysis's error-rate check. A candidate that is unreachable, or
answers 5xx to `unhealthy_after` requests in a row, is marked unhealthy: the owner of the table is told
(`on_candidate_failure(model, reason)`) and the candidate gets nothing more until the table changes. A
sampled share of stable requests is copied to the shadow server in the background; its answer is
compared, logged and never returned.

Each inference is logged as KServe-style CloudEvents (`cxops.canary.events`), counted in Prometheus
metrics (`/metrics`) and traced with OpenTelemetry. `GET /gateway/status` shows the table, the health of
each candidate and the requests per side.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as HttpRoute

from cxops.canary import events as ev
from cxops.canary._metrics import GatewayMetrics
from cxops.canary._payload import compare_answers, customer_id
from cxops.canary.errors import CanaryBackendError, CanaryNotFoundError
from cxops.canary.routing import Backend, Route, RoutingTable, Side
from cxops.config import Settings
from cxops.errors import CXOpsError
from cxops.privacy import pseudonymise

__all__ = [
    "REQUEST_ID_HEADER",
    "VERSION_HEADER",
    "CanaryGateway",
    "GatewayError",
    "TableProvider",
    "create_gateway",
]

logger = logging.getLogger(__name__)

VERSION_HEADER = "x-cxops-model-version"
"""Response header naming the model version that answered."""
REQUEST_ID_HEADER = "x-request-id"
"""Request header whose value (or a new id) becomes the CloudEvents id of the request's log events."""
_INFERENCE_HEADER = "inference-header-content-length"
_REQUEST_ID = re.compile(r"^[\w.:-]{1,128}$")

_V1 = re.compile(r"^/v1/models/(?P<model>[^/:]+)(?::predict)?$")
_V2 = re.compile(r"^/v2/models/(?P<model>[^/]+)(?:/versions/(?P<version>[^/]+))?(?:/infer|/ready)?$")
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
_NOT_FORWARDED = _HOP_BY_HOP | {"traceparent", "tracestate", "accept-encoding", REQUEST_ID_HEADER}
_NOT_RETURNED = _HOP_BY_HOP | {"content-encoding", "date", "server"}


class GatewayError(CanaryBackendError):
    """A model server behind the gateway could not be reached (502)."""

    status_code = 502


class TableProvider(Protocol):
    """Returns the current routing table; called on every request (in a worker thread), so it must be
    cheap most of the time and thread-safe."""

    def __call__(self) -> RoutingTable: ...


@dataclass
class _Attempt:
    side: Side
    backend: Backend
    status: int
    content: bytes
    headers: dict[str, str]
    seconds: float
    sent_at: datetime
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None or self.status >= 500


@dataclass
class _ModelStats:
    requests: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    fallbacks: int = 0
    shadow: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _model_in_path(path: str) -> tuple[str | None, str | None]:
    if match := _V1.match(path):
        return match["model"], None
    if match := _V2.match(path):
        return match["model"], match["version"]
    return None, None


def _traceparent(span: trace.Span) -> str | None:
    context = span.get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


class CanaryGateway:
    """The gateway's state and request handling; `app` is the ASGI application to serve."""

    def __init__(
        self,
        table_provider: TableProvider,
        settings: Settings,
        *,
        opt_out: Callable[[str], bool],
        http_client: httpx.AsyncClient | None = None,
        on_candidate_failure: Callable[[str, str], None] | None = None,
        tracer_provider: TracerProvider | None = None,
        rng: random.Random | None = None,
        namespace: str = "local",
        timeout_s: float = 10.0,
        unhealthy_after: int = 5,
    ) -> None:
        self._table = table_provider
        key = settings.pseudonym_key_bytes()
        self._pseudonymise: Callable[[str], str] = lambda value: pseudonymise(value, key)
        self.masker = ev.PayloadMasker(self._pseudonymise)
        self._opt_out = opt_out
        self._client = http_client
        self._owns_client = http_client is None
        self._timeout_s = timeout_s
        self._on_failure = on_candidate_failure or getattr(table_provider, "on_candidate_failure", None)
        self.tracer = trace.get_tracer("cxops.canary.gateway", tracer_provider=tracer_provider)
        self.rng = rng or random.Random()
        self.namespace = namespace
        self.metrics = GatewayMetrics()
        self.writer = ev.EventWriter(ev.EventLog(ev.log_root(settings)))
        self._unhealthy: dict[str, tuple[Route, str]] = {}
        self._unhealthy_after = unhealthy_after
        self._failures: dict[Route, int] = {}
        self._stats: dict[str, _ModelStats] = defaultdict(_ModelStats)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pending = 0
        self._idle = threading.Condition()
        self.app = Starlette(
            routes=[
                HttpRoute("/metrics", self._metrics, methods=["GET"]),
                HttpRoute("/gateway/status", self._status, methods=["GET"]),
                HttpRoute("/{path:path}", self.proxy, methods=["GET", "HEAD", "POST"]),
            ],
            lifespan=self._lifespan,
        )
        self.app.state.gateway = self

    # -- lifecycle -----------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _lifespan(self, _: Starlette) -> AsyncIterator[None]:
        self._http()
        try:
            yield
        finally:
            await self.aclose()

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(self._timeout_s, connect=2.0))
        return self._client

    async def aclose(self) -> None:
        """Let background work finish (5 s at most), write the log, close the client the gateway made."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5.0)
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None
        await run_in_threadpool(self.writer.close)

    def flush(self, timeout: float = 10.0) -> bool:
        """From another thread: wait until shadow copies, callbacks and log writes are done."""
        deadline = time.monotonic() + timeout
        with self._idle:
            if not self._idle.wait_for(lambda: self._pending == 0, timeout):
                return False
        return self.writer.flush(max(deadline - time.monotonic(), 0.0))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        with self._idle:
            self._pending += 1
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.warning("background work of the canary gateway failed: %r", exc)
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    # -- health --------------------------------------------------------------------------------------

    def candidate_failure(self, route: Route) -> str | None:
        """Why the candidate of `route` is shunned, or None while it is healthy (or the table changed)."""
        marked = self._unhealthy.get(route.model)
        if marked is None:
            return None
        if marked[0] != route:  # a new table: give its candidate a fresh chance
            del self._unhealthy[route.model]
            return None
        return marked[1]

    def _mark_unhealthy(self, route: Route, reason: str) -> None:
        if self.candidate_failure(route) is not None:
            return  # requests in flight when it failed: already reported
        self._unhealthy[route.model] = (route, reason)
        logger.warning("%s", reason)
        if self._on_failure is not None:
            self._spawn(self._notify(route.model, reason))

    async def _notify(self, model: str, reason: str) -> None:
        assert self._on_failure is not None
        await run_in_threadpool(self._on_failure, model, reason)

    def _opted_out(self, pseudonym: str) -> bool:
        try:
            return bool(self._opt_out(pseudonym))
        except Exception:  # unknown consent: keep the customer on the proven model
            logger.exception("the opt-out check failed; the request goes to the stable version")
            return True

    # -- admin routes --------------------------------------------------------------------------------

    async def _metrics(self, _: Request) -> Response:
        return Response(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def status(self, table: RoutingTable | None = None) -> dict[str, Any]:
        """The routing table, each candidate's health and the requests per side and version."""
        table = table or self._table()
        models: dict[str, Any] = {}
        for route in table.routes:
            stats = self._stats[route.model]
            failure = self.candidate_failure(route)
            models[route.model] = {
                "route": route.model_dump(mode="json"),
                "candidate_healthy": route.candidate is not None and failure is None,
                "candidate_failure": failure,
                "requests": {side: dict(by_version) for side, by_version in stats.requests.items()},
                "fallbacks": stats.fallbacks,
                "shadow": dict(stats.shadow),
            }
        return {"models": models}

    async def _status(self, _: Request) -> JSONResponse:
        try:
            return JSONResponse(self.status(await run_in_threadpool(self._table)))
        except CXOpsError as exc:
            return _error(exc.status_code, exc.message)

    # -- proxying ------------------------------------------------------------------------------------

    def _side(
        self, route: Route, version: str | None, inference: bool, pseudonym: str | None, excluded: bool
    ) -> Side | Response:
        """Pinned versions go to their side, other GETs to stable, inferences where the table sends them."""
        if version is not None:
            pinned = route.side_of_version(version)
            if pinned is None:
                served = [b.version for b in (route.stable, route.candidate) if b is not None]
                error = CanaryNotFoundError(
                    f"model '{route.model}' has no version '{version}' behind this gateway; "
                    f"it serves {served}"
                )
                return _error(error.status_code, error.message)
            return pinned
        if not inference:
            return Side.STABLE
        side = route.choose(pseudonym, excluded=excluded, rng=self.rng)
        if side is Side.CANDIDATE and self.candidate_failure(route) is not None:
            return Side.STABLE
        return side

    async def proxy(self, request: Request) -> Response:
        path = request.url.path
        model, version = _model_in_path(path)
        try:
            # Off the event loop: a provider re-reading the canary records must not stall other requests.
            route = (await run_in_threadpool(self._table)).route_for(model)
        except CXOpsError as exc:
            return _error(exc.status_code, exc.message)
        inference = request.method == "POST"
        body = await request.body()
        given_id = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = given_id if _REQUEST_ID.match(given_id) else ev.new_request_id()
        header_length = request.headers.get(_INFERENCE_HEADER)
        raw_id = customer_id(body, header_length) if inference else None
        pseudonym = self._pseudonymise(raw_id) if raw_id else None
        # Only a route with a candidate or a shadow needs to know: the check may cost a look-up.
        split = route.candidate is not None or route.shadow is not None
        # Off the event loop: a look-up that misses the cache reads the online store.
        excluded = pseudonym is not None and split and await run_in_threadpool(self._opted_out, pseudonym)
        side = self._side(route, version, inference, pseudonym, excluded)
        if isinstance(side, Response):
            return side

        attributes = {
            "cxops.model": route.model,
            "cxops.canary.id": route.canary_id,
            "http.request.method": request.method,
            "url.path": path,
            "cxops.request_id": request_id,
        }
        with self.tracer.start_as_current_span(
            "canary.proxy", context=extract(request.headers), kind=SpanKind.SERVER, attributes=attributes
        ) as span:
            traceparent = _traceparent(span)
            forward = {k: v for k, v in request.headers.items() if k.lower() not in _NOT_FORWARDED}
            forward[REQUEST_ID_HEADER] = request_id
            target = path + (f"?{request.url.query}" if request.url.query else "")
            attempt = await self._attempt(route, side, request.method, target, forward, body)
            attempts = [attempt]
            fallback = side is Side.CANDIDATE and version is None and attempt.failed
            if side is Side.CANDIDATE and version is None:
                self._check_health(route, attempt)
            if fallback:
                attempt = await self._attempt(route, Side.STABLE, request.method, target, forward, body)
                attempts.append(attempt)
            span.set_attribute("cxops.canary.side", attempt.side.value)
            span.set_attribute("cxops.model.version", attempt.backend.version)
            span.set_attribute("cxops.canary.fallback", fallback)
            span.set_attribute("http.response.status_code", attempt.status)
            if attempt.failed:
                span.set_status(Status(StatusCode.ERROR, attempt.error or f"HTTP {attempt.status}"))

        if inference:
            self._record(request, route, request_id, body, header_length, pseudonym, attempts, traceparent)
            shadow = route.shadow
            if (
                shadow is not None
                and version is None
                and not fallback
                and not excluded
                and attempt.side is Side.STABLE
                and attempt.status < 400
                and self.rng.random() * 100.0 < shadow.percent
            ):
                self._stats[route.model].shadow["sent"] += 1
                self._spawn(
                    self._shadow(route, str(request.base_url), request_id, target, forward, body, attempt)
                )

        headers = {k: v for k, v in attempt.headers.items() if k.lower() not in _NOT_RETURNED}
        headers[VERSION_HEADER] = attempt.backend.version
        headers[REQUEST_ID_HEADER] = request_id
        return Response(attempt.content, status_code=attempt.status, headers=headers)

    async def _attempt(
        self, route: Route, side: Side, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> _Attempt:
        backend = route.backend(side)
        with self.tracer.start_as_current_span(
            "canary.upstream",
            kind=SpanKind.CLIENT,
            attributes={
                "cxops.canary.side": side.value,
                "cxops.model.version": backend.version,
                "server.address": backend.url,
            },
        ) as span:
            outgoing = dict(headers)
            inject(outgoing)
            sent_at = datetime.now(UTC)
            started = time.perf_counter()
            try:
                response = await self._http().request(
                    method, backend.url.rstrip("/") + target, content=body, headers=outgoing
                )
            except httpx.TransportError as exc:
                seconds = time.perf_counter() - started
                error = GatewayError(
                    f"model '{route.model}' version '{backend.version}' at {backend.url} is unreachable "
                    f"({type(exc).__name__}); check that its server runs and that the routing table "
                    "points at it"
                )
                span.set_status(Status(StatusCode.ERROR, str(error)))
                attempt = _Attempt(
                    side,
                    backend,
                    error.status_code,
                    bytes(JSONResponse({"error": error.message}).body),
                    {"content-type": "application/json"},
                    seconds,
                    sent_at,
                    error=f"is unreachable ({type(exc).__name__})",
                )
            else:
                seconds = time.perf_counter() - started
                attempt = _Attempt(
                    side,
                    backend,
                    response.status_code,
                    response.content,
                    dict(response.headers),
                    seconds,
                    sent_at,
                )
            span.set_attribute("http.response.status_code", attempt.status)
        if method == "POST":
            self.metrics.observe(route.model, backend.version, side.value, attempt.status, seconds)
            self._stats[route.model].requests[side.value][backend.version] += 1
        return attempt

    def _check_health(self, route: Route, attempt: _Attempt) -> None:
        """An unreachable candidate is dead at once; one answering 5xx after `unhealthy_after` requests in
        a row. Fewer 5xx are left to the error-rate check of the analysis (each is retried on stable)."""
        streak = 0 if not attempt.failed else self._failures.get(route, 0) + 1
        self._failures = {route: streak}  # a new table starts a new count
        if attempt.error is not None or streak >= self._unhealthy_after:
            self._mark_unhealthy(route, self._failure_reason(route, attempt, streak))

    def _failure_reason(self, route: Route, attempt: _Attempt, streak: int = 1) -> str:
        what = attempt.error or f"answered HTTP {attempt.status}" + (
            f" to {streak} requests in a row" if streak > 1 else ""
        )
        return (
            f"candidate version '{attempt.backend.version}' of model '{route.model}' at "
            f"{attempt.backend.url} {what}; its requests go to stable version '{route.stable.version}' "
            "until the routing table changes"
        )

    def _record(
        self,
        request: Request,
        route: Route,
        request_id: str,
        body: bytes,
        header_length: str | None,
        pseudonym: str | None,
        attempts: list[_Attempt],
        traceparent: str | None,
    ) -> None:
        """Log events and count the request; a fallback logs the failed candidate call as well."""
        masked_request = self.masker.mask_body(body, header_length)
        source = str(request.base_url)
        events: list[dict[str, Any]] = []
        for number, attempt in enumerate(attempts):
            fallback = number > 0
            if fallback:
                self.metrics.fallbacks.labels(route.model, attempts[0].backend.version).inc()
                self._stats[route.model].fallbacks += 1
            common: dict[str, Any] = {
                "request_id": f"{request_id}-fallback" if fallback else request_id,
                "source": source,
                "model": route.model,
                "endpoint": ev.ENDPOINT_CANARY if attempt.side is Side.CANDIDATE else ev.ENDPOINT_DEFAULT,
                "version": attempt.backend.version,
                "namespace": self.namespace,
                "canary_id": route.canary_id or None,
                "subject": pseudonym,
                "fallback": fallback,
                "traceparent": traceparent,
            }
            events.append(
                ev.inference_event(ev.EVENT_REQUEST, data=masked_request, time=attempt.sent_at, **common)
            )
            events.append(
                ev.inference_event(
                    ev.EVENT_RESPONSE,
                    data=self.masker.mask_body(attempt.content, attempt.headers.get(_INFERENCE_HEADER)),
                    status=attempt.status,
                    latency_ms=attempt.seconds * 1000.0,
                    error="unreachable" if attempt.error else None,
                    **common,
                )
            )
        self.writer.submit(events)

    async def _shadow(
        self,
        route: Route,
        source: str,
        request_id: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
        stable: _Attempt,
    ) -> None:
        """Send the copy, compare its answer with the one the customer got, and log the comparison."""
        shadow = route.shadow
        assert shadow is not None
        stats = self._stats[route.model].shadow
        with self.tracer.start_as_current_span(
            "canary.shadow",
            kind=SpanKind.CLIENT,
            attributes={"cxops.model": route.model, "cxops.model.version": shadow.version},
        ) as span:
            outgoing = dict(headers)
            inject(outgoing)
            started = time.perf_counter()
            try:
                response = await self._http().post(
                    shadow.url.rstrip("/") + target, content=body, headers=outgoing
                )
            except httpx.TransportError as exc:
                comparison: dict[str, Any] = {"shadow_status": None, "error": type(exc).__name__}
                outcome = "failed"
            else:
                comparison = {"shadow_status": response.status_code}
                if response.status_code >= 400:
                    outcome = "failed"
                else:
                    comparison |= compare_answers(stable.content, response.content)
                    if not comparison["comparable"]:
                        outcome = "incomparable"
                    else:
                        outcome = "agree" if comparison["labels_agree"] else "disagree"
                        if comparison["max_abs_diff"] is not None:
                            self.metrics.shadow_diff.labels(route.model, shadow.version).observe(
                                comparison["max_abs_diff"]
                            )
            comparison["shadow_latency_ms"] = round((time.perf_counter() - started) * 1000.0, 3)
            comparison["outcome"] = outcome
            span.set_attribute("cxops.canary.shadow.outcome", outcome)
            traceparent = _traceparent(span)
        stats[outcome] += 1
        self.metrics.shadow.labels(route.model, shadow.version, outcome).inc()
        self.writer.submit(
            [
                ev.comparison_event(
                    request_id=request_id,
                    source=source,
                    model=route.model,
                    stable_version=stable.backend.version,
                    shadow_version=shadow.version,
                    comparison=comparison,
                    namespace=self.namespace,
                    traceparent=traceparent,
                )
            ]
        )


def create_gateway(
    table_provider: TableProvider,
    settings: Settings,
    *,
    opt_out: Callable[[str], bool],
    http_client: httpx.AsyncClient | None = None,
    on_candidate_failure: Callable[[str, str], None] | None = None,
    tracer_provider: TracerProvider | None = None,
    rng: random.Random | None = None,
    namespace: str = "local",
    timeout_s: float = 10.0,
    unhealthy_after: int = 5,
) -> Starlette:
    """The gateway's ASGI app (`app.state.gateway` is its `CanaryGateway`).

    `table_provider()` is asked for the routing table on every request. `opt_out(pseudonym)` says whether
    a customer objected to automated decisions; it must be cheap, and when it fails the customer stays
    on stable. `on_candidate_failure(model, reason)` (default: the provider's own `on_candidate_failure`,
    if it has one) is called, off the event loop, once each time a candidate is found failing.
    """
    gateway = CanaryGateway(
        table_provider,
        settings,
        opt_out=opt_out,
        http_client=http_client,
        on_candidate_failure=on_candidate_failure,
        tracer_provider=tracer_provider,
        rng=rng,
        namespace=namespace,
        timeout_s=timeout_s,
        unhealthy_after=unhealthy_after,
    )
    return gateway.app
