"""The HTTP API of the drift monitor (Starlette; see docs/drift-monitor.md).

    POST /                 CloudEvents (binary, structured or batch mode) -> 202 {"accepted", "ignored"}
    POST /v1/detectors     {"model", "version", "bundle"} -> 201 fitted, 200 already loaded
    GET  /v1/detectors     the watched versions and their windows
    POST /v1/evaluate      [{"model"}] test the partial windows with at least min_window rows now
    GET  /v1/results       ?model=&version=&after=&limit= -> {"results": [...]}, oldest first
    GET  /metrics          Prometheus
    GET  /healthz          liveness

Fitting and window tests run on one worker thread, never on the event loop: events keep being accepted
while a window is tested. A full window is tested in the background; `POST /v1/evaluate` first waits for
those tests, so its answer follows every event sent before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cxops_drift.errors import DriftError, InvalidError
from cxops_drift.events import parse_events
from cxops_drift.metrics import CONTENT_TYPE
from cxops_drift.service import DriftService
from cxops_drift.store import MAX_LIMIT
from cxops_drift.windows import Window

__all__ = ["MAX_BODY_BYTES", "create_app"]

MAX_BODY_BYTES = 64 * 1024 * 1024
log = logging.getLogger("cxops_drift")


class _Worker:
    """One thread for the heavy work, and the background window tests still running."""

    def __init__(self) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cxops-drift")
        self.tasks: set[asyncio.Task[Any]] = set()

    async def run(self, function: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, function, *args)

    def background(self, service: DriftService, window: Window) -> None:
        async def test() -> None:
            try:
                await self.run(service.test, window)
            except Exception:  # a failed test must not take the service down; the log keeps the cause
                log.exception("window of model=%s version=%s not tested", window.model, window.version)

        task = asyncio.get_running_loop().create_task(test())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drain(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)


async def _json_body(request: Request, *, optional: bool = False) -> dict[str, Any]:
    body = await request.body()
    if optional and not body.strip():
        return {}
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidError(
            f"{request.method} {request.url.path}: the body is not valid JSON ({error})"
        ) from error
    if not isinstance(data, dict):
        raise InvalidError(f"{request.method} {request.url.path}: the body must be a JSON object")
    return data


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidError(f"query parameter '{name}' must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise InvalidError(f"query parameter '{name}' must be in [{low}, {high}], got {value}")
    return value


def create_app(service: DriftService) -> Starlette:
    """The Starlette app serving `service`; saved detectors are reloaded at start-up."""
    worker = _Worker()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        problems = await worker.run(service.load_saved)
        log.info(
            "drift monitor ready: state=%s detectors=%d not_loaded=%d last_seq=%d",
            service.state,
            len(service.registrations),
            len(problems),
            service.store.last_seq,
        )
        try:
            yield
        finally:
            await worker.drain()
            worker.executor.shutdown(wait=True)

    async def events(request: Request) -> Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        parsed = parse_events(headers, await request.body())
        accepted, ignored, closed = service.ingest(parsed)
        for window in closed:
            worker.background(service, window)
        return JSONResponse({"accepted": accepted, "ignored": ignored}, status_code=202)

    async def register(request: Request) -> Response:
        body = await _json_body(request)
        unknown = sorted(set(body) - {"model", "version", "bundle"})
        if unknown:
            raise InvalidError(f"POST /v1/detectors: unknown keys {unknown}; send model, version and bundle")
        created, description = await worker.run(
            service.register, body.get("model"), body.get("version"), body.get("bundle")
        )
        return JSONResponse(description, status_code=201 if created else 200)

    async def list_detectors(request: Request) -> Response:
        return JSONResponse(service.list_detectors())

    async def evaluate(request: Request) -> Response:
        body = await _json_body(request, optional=True)
        model = body.get("model")
        if model is not None and not isinstance(model, str):
            raise InvalidError("POST /v1/evaluate: 'model' must be a model name")
        await worker.drain()
        results = [await worker.run(service.test, window) for window in service.take_partial(model)]
        return JSONResponse({"results": results})

    async def results(request: Request) -> Response:
        # the file is read from disk: in a thread of its own, not on the loop nor behind a window test
        found = await run_in_threadpool(
            service.store.query,
            model=request.query_params.get("model"),
            version=request.query_params.get("version"),
            after=_int_param(request, "after", 0, 0, 2**62),
            limit=_int_param(request, "limit", 50, 1, MAX_LIMIT),
        )
        return JSONResponse({"results": found})

    async def metrics(request: Request) -> Response:
        return Response(service.metrics.render(), media_type=CONTENT_TYPE)

    async def healthz(request: Request) -> Response:
        return JSONResponse(
            {"status": "ok", "detectors": len(service.registrations), "last_seq": service.store.last_seq}
        )

    async def drift_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, DriftError)
        if error.status_code >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, error)
        return JSONResponse({"error": error.message}, status_code=error.status_code)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        message = f"{request.method} {request.url.path}: {error.detail}"
        return JSONResponse({"error": message}, status_code=error.status_code, headers=error.headers)

    async def unexpected_error(request: Request, error: Exception) -> Response:
        # Starlette re-raises after this answer, so the server logs the traceback once
        message = f"{request.method} {request.url.path} failed ({type(error).__name__}: {error}); see the log"
        return JSONResponse({"error": message}, status_code=500)

    app = Starlette(
        routes=[
            Route("/", events, methods=["POST"]),
            Route("/v1/detectors", register, methods=["POST"]),
            Route("/v1/detectors", list_detectors, methods=["GET"]),
            Route("/v1/evaluate", evaluate, methods=["POST"]),
            Route("/v1/results", results, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        exception_handlers={DriftError: drift_error, HTTPException: http_error, Exception: unexpected_error},
        lifespan=lifespan,
        max_body_size=MAX_BODY_BYTES,
    )
    app.state.service = service
    return app
