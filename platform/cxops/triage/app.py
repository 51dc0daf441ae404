"""The triage service: one customer message in, a routing decision out (`POST /v1/triage`).

Design: triage is its own small service in front of the model servers. It calls the intent, sentiment
and churn models over the KServe Open Inference Protocol (V2; the text models optionally over their
batched route, see `TriageSettings.text_route`), so each model keeps its own deployment, version and
canary release, and a model can be rolled forward or back without touching triage. The
three calls run concurrently (`asyncio.gather` over one pooled `httpx.AsyncClient`), each with its own
timeout, so a decision costs the slowest call, bounded by `timeout_s`. The routing itself is data
(`policies/triage.yaml`, see `cxops.triage.policy`) applied by a pure function (`cxops.triage.decide`).

When the intent or sentiment model is unreachable, times out or answers 5xx, the request does not
fail: it goes to the policy's human-review queue, escalated, and the response lists the model under
`degraded` with a reason. Churn is an enrichment: when it is missing the decision is made without it.

Routes: `POST /v1/triage`, `GET /healthz` (the process is up), `GET /readyz` (the intent and sentiment
model servers answer /v2/health/ready; churn is reported, not required), OpenAPI at `/docs`.
Errors are `{"error": "..."}`: 400 body not UTF-8 or not JSON, 413 message (or body) too long, 422
missing, blank or wrongly typed fields (named), unknown channel or unknown fields.

The message is personal data: it is never logged, nor echoed in errors. Logs carry the request id,
lengths, labels, confidences and timings only. Run it with `cxops triage serve`, or
`uvicorn --factory cxops.triage.app:create_app` with `CXOPS_TRIAGE_*` set.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

import cxops
from cxops.config import Settings
from cxops.errors import CXOpsError, InvalidInputError
from cxops.privacy.text_pii import PiiLogFilter
from cxops.specs import load_spec
from cxops.triage._errors import ModelUnavailableError, UnknownCustomerError
from cxops.triage.decide import ChurnStatus, Prediction, Signals, decide
from cxops.triage.models_client import ModelAnswer, ModelEndpoint, check_ready, infer
from cxops.triage.policy import Labels, TriagePolicy, load_policy
from cxops.triage.schemas import ChurnResult, ErrorBody, LabelResult, TriageRequest, TriageResult
from cxops.triage.settings import TriageSettings

__all__ = ["REQUEST_ID_HEADER", "configure_logging", "create_app"]

logger = logging.getLogger(__name__)
logger.addFilter(PiiLogFilter())

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's request id is reused (it ties logs across services) only when it cannot smuggle anything.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# JSON may spell one character with up to 12 bytes (a surrogate pair of six-byte \u escapes): a body longer
# than this cannot hold an acceptable message and is refused before it is read in full.
_BYTES_PER_CHAR = 12
_BODY_OVERHEAD = 16 * 1024

T = TypeVar("T")


class _RequestError(InvalidInputError):
    """A bad request; `status_code` set per case (400, 413, 422)."""


def _request_id(request: Request) -> str:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _RequestError(f"the request body is {declared} bytes; the limit is {limit}", status_code=413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _RequestError(f"the request body is over the limit of {limit} bytes", status_code=413)
        chunks.append(chunk)
    return b"".join(chunks)


def _field_errors(exc: ValidationError) -> str:
    # Only the field path and pydantic's message: `str(exc)` would quote the input, i.e. the message.
    parts = []
    for error in exc.errors()[:10]:
        field = ".".join(str(p) for p in error["loc"]) or "body"
        parts.append(f"{field}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def _parse_request(body: bytes) -> TriageRequest:
    if not body:
        raise _RequestError(
            'the request body is empty; send a JSON object {"message": "..."}', status_code=400
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _RequestError(
            f"the request body is not valid UTF-8 (byte {exc.start}); send JSON encoded as UTF-8",
            status_code=400,
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _RequestError(
            f"the request body is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            'send a JSON object {"message": "...", "customer_id": ..., "channel": ...}',
            status_code=400,
        ) from None
    if not isinstance(data, dict):
        raise _RequestError(
            f'the request body must be a JSON object {{"message": "..."}}, not a JSON {type(data).__name__}'
        )
    try:
        return TriageRequest.model_validate(data)
    except ValidationError as exc:
        raise _RequestError(f"invalid triage request: {_field_errors(exc)}") from None


async def _timed(awaitable: Awaitable[T]) -> tuple[T | BaseException, float]:
    """The result (or the error) of `awaitable` and how long it took in ms; lets gather keep every answer."""
    started = time.perf_counter()
    try:
        result: T | BaseException = await awaitable
    except (ModelUnavailableError, UnknownCustomerError) as exc:
        result = exc
    return result, (time.perf_counter() - started) * 1000


async def _nothing() -> None:
    return None


def _label(answer: ModelAnswer | BaseException | None) -> LabelResult | None:
    if not isinstance(answer, ModelAnswer):
        return None
    return LabelResult(label=answer.label, confidence=answer.probability, model_version=answer.model_version)


def _prediction(answer: LabelResult | None) -> Prediction | None:
    return Prediction(answer.label, answer.confidence) if answer else None


def configure_logging(level: int | str = logging.INFO) -> None:
    """Send the `cxops` loggers' records to stderr through a `PiiLogFilter` (for `cxops triage serve`).

    The filter sits on the handler, so it also covers records of loggers that have none of their own.
    """
    root = logging.getLogger("cxops")
    if any(getattr(h, "_cxops_triage", False) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler.addFilter(PiiLogFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler._cxops_triage = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)


def create_app(
    settings: TriageSettings | None = None,
    *,
    policy: TriagePolicy | None = None,
    cxops_settings: Settings | None = None,
) -> FastAPI:
    """The triage app. Reads the specs and the policy now, so a bad policy fails at start-up."""
    settings = settings or TriageSettings.load()
    cxops_settings = cxops_settings or Settings()
    intent_spec = load_spec("intent", cxops_settings)
    sentiment_spec = load_spec("sentiment", cxops_settings)
    if policy is None:
        labels = Labels(tuple(intent_spec.label_categories), tuple(sentiment_spec.label_categories))
        policy = load_policy(
            settings.resolved_policy_path(cxops_settings), labels=labels, settings=cxops_settings
        )
    route = settings.text_route
    endpoints = {
        "intent": ModelEndpoint.for_text(intent_spec, settings.intent_url, settings.intent_model, route),
        "sentiment": ModelEndpoint.for_text(
            sentiment_spec, settings.sentiment_url, settings.sentiment_model, route
        ),
    }
    if settings.churn_url:
        endpoints["churn"] = ModelEndpoint.for_customers("churn", settings.churn_url, settings.churn_model)
    body_limit = policy.max_message_chars * _BYTES_PER_CHAR + _BODY_OVERHEAD
    timeout = settings.timeout_s

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One pooled client for the life of the process: connections to the model servers are reused.
        async with httpx.AsyncClient(timeout=timeout) as client:
            app.state.http = client
            yield

    app = FastAPI(
        title="CXOps triage",
        version=cxops.__version__,
        description=(
            "Routes a customer message to a queue with a priority, and says when a person should take "
            "over. It asks the intent, sentiment and churn models (KServe V2) and applies the routing "
            f'policy (version {policy.version}). Errors are JSON: `{{"error": "..."}}`.'
        ),
        lifespan=lifespan,
    )
    app.state.policy = policy
    app.state.settings = settings

    @app.middleware("http")
    async def _with_request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request.state.request_id = _request_id(request)
        response = await call_next(request)
        response.headers[REQUEST_ID_HEADER] = request.state.request_id
        return response

    @app.exception_handler(CXOpsError)
    async def _cxops_error(request: Request, exc: CXOpsError) -> JSONResponse:
        logger.info("request %s refused: HTTP %d", getattr(request.state, "request_id", "-"), exc.status_code)
        return JSONResponse({"error": exc.message}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = getattr(request.state, "request_id", "-")
        logger.error("request %s failed: %s", request_id, type(exc).__name__)
        return JSONResponse(
            {
                "error": f"the triage service failed unexpectedly; quote request id {request_id} "
                "when reporting it"
            },
            status_code=500,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:10]]
        return JSONResponse({"error": "invalid request: " + "; ".join(parts)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "policy_version": policy.version}

    @app.get(
        "/readyz",
        summary="Readiness: the intent and sentiment model servers are ready",
        responses={503: {"description": "a required model server is not ready"}},
    )
    async def readyz(request: Request) -> JSONResponse:
        client: httpx.AsyncClient = request.app.state.http
        states = await asyncio.gather(*(check_ready(client, e, timeout=timeout) for e in endpoints.values()))
        models = dict(zip(endpoints, states, strict=True))
        ready = models["intent"] == "ready" and models["sentiment"] == "ready"
        return JSONResponse({"ready": ready, "models": models}, status_code=200 if ready else 503)

    request_schema = TriageRequest.model_json_schema()

    @app.post(
        "/v1/triage",
        response_model=TriageResult,
        summary="Triage one customer message",
        responses={
            400: {"model": ErrorBody, "description": "the body is not UTF-8 or not JSON"},
            413: {"model": ErrorBody, "description": "the message is longer than the policy allows"},
            422: {
                "model": ErrorBody,
                "description": "a field is missing, blank, of the wrong type or unknown",
            },
        },
        # The body is parsed by hand (to tell bad bytes, bad JSON and bad fields apart); this documents it.
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/json": {"schema": request_schema}}}
        },
    )
    async def triage(request: Request) -> TriageResult:
        started = time.perf_counter()
        request_id: str = request.state.request_id
        body = _parse_request(await _read_body(request, body_limit))
        if len(body.message) > policy.max_message_chars:
            raise _RequestError(
                f"the message is {len(body.message)} characters; the limit is {policy.max_message_chars} "
                "(policy max_message_chars): send the first part, or a summary",
                status_code=413,
            )
        client: httpx.AsyncClient = request.app.state.http
        churn_endpoint = endpoints.get("churn")
        churn_call = (
            infer(client, churn_endpoint, body.customer_id, request_id=request_id, timeout=timeout)
            if churn_endpoint is not None and body.customer_id is not None
            else _nothing()
        )
        (intent, t_intent), (sentiment, t_sentiment), (churn, t_churn) = await asyncio.gather(
            _timed(infer(client, endpoints["intent"], body.message, request_id=request_id, timeout=timeout)),
            _timed(
                infer(client, endpoints["sentiment"], body.message, request_id=request_id, timeout=timeout)
            ),
            _timed(churn_call),
        )

        unavailable = {
            e.model: e.cause for e in (intent, sentiment, churn) if isinstance(e, ModelUnavailableError)
        }
        churn_status: ChurnStatus
        if body.customer_id is None:
            churn_status = "not_requested"
        elif churn_endpoint is None:
            churn_status = "not_configured"
        elif isinstance(churn, UnknownCustomerError):
            churn_status = "unknown_customer"
        elif isinstance(churn, ModelUnavailableError):
            churn_status = "unavailable"
        else:
            churn_status = "scored"
        intent_result, sentiment_result = _label(intent), _label(sentiment)
        churn_result = (
            ChurnResult(probability=churn.probability, model_version=churn.model_version)
            if isinstance(churn, ModelAnswer)
            else None
        )
        decision = decide(
            policy,
            Signals(
                intent=_prediction(intent_result),
                sentiment=_prediction(sentiment_result),
                channel=body.channel,
                churn_probability=churn_result.probability if churn_result else None,
                churn_status=churn_status,
                unavailable=unavailable,
            ),
        )
        logger.info(
            "request %s: chars=%d channel=%s intent=%s sentiment=%s churn=%s queue=%s priority=%s "
            "escalate=%s degraded=%s rules=%s ms(intent=%.0f sentiment=%.0f churn=%.0f total=%.0f)",
            request_id,
            len(body.message),
            body.channel or "-",
            f"{intent_result.label}:{intent_result.confidence:.2f}" if intent_result else "-",
            f"{sentiment_result.label}:{sentiment_result.confidence:.2f}" if sentiment_result else "-",
            f"{churn_result.probability:.2f}" if churn_result else churn_status,
            decision.queue,
            decision.priority,
            decision.escalate,
            ",".join(unavailable) or "-",
            ",".join(decision.matched_rules) or "-",
            t_intent,
            t_sentiment,
            t_churn,
            (time.perf_counter() - started) * 1000,
        )
        return TriageResult(
            intent=intent_result,
            sentiment=sentiment_result,
            churn=churn_result,
            priority=decision.priority,
            queue=decision.queue,
            escalate_to_human=decision.escalate,
            reasons=list(decision.reasons),
            matched_rules=list(decision.matched_rules),
            degraded=[m for m in endpoints if m in unavailable],
            policy_version=policy.version,
            request_id=request_id,
        )

    return app
