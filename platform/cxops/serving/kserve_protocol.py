"""KServe's data-plane routes for a served model: V1 and the Open Inference Protocol (V2).

KServe, its clients and its tooling (InferenceService probes, the KServe SDK's REST client) speak these
routes, so the same bento answers them locally and as a KServe custom predictor:

    V1  GET  /v1/models, /v1/models/{name}                  POST /v1/models/{name}:predict
    V2  GET  /v2, /v2/health/live, /v2/health/ready
        GET  /v2/models/{name}[/versions/{v}], .../ready     POST /v2/models/{name}[/versions/{v}]/infer

Errors are KServe-style JSON, `{"error": "..."}` (plus `details` for invalid rows), always 4xx for a
bad request: unknown model 404, malformed body 400/422, bad datatype or shape 422, unknown customer 404,
oversize batch 413. The app is created before the model is loaded (BentoML mounts it at import time) and
answers 503 until a predictor is set.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

import cxops
from cxops.errors import CXOpsError, InvalidInputError, NotFoundError
from cxops.serving._tensors import (
    INFERENCE_HEADER,
    InferRequestBody,
    RequestedOutput,
    parse_infer_request,
    tensor_values,
)
from cxops.serving._validation import InputValidationError
from cxops.serving.predictor import ModelPredictor, Prediction
from cxops.telemetry.serving import FASTAPI_TELEMETRY, ModelServerMiddleware, note_error

if TYPE_CHECKING:
    from cxops.telemetry import Telemetry

__all__ = [
    "CUSTOMER_ID",
    "ModelNotReadyError",
    "PredictorSlot",
    "create_kserve_app",
    "error_response",
    "install_error_handlers",
]

logger = logging.getLogger(__name__)

CUSTOMER_ID = "customer_id"
"""Name of the V1 instance field and of the V2 input tensor that ask for a lookup by customer id."""

_MAX_DETAILS = 100
_INTEGER_DTYPES = {"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}
_NUMBER_DTYPES = _INTEGER_DTYPES | {"FP16", "FP32", "FP64"}
_TEXT_TYPES = ("category", "text")


class ModelNotReadyError(CXOpsError):
    status_code = 503


class PredictorSlot:
    """Holds the served predictor once it is loaded (the routes exist before the model does)."""

    def __init__(self, predictor: ModelPredictor | None = None) -> None:
        self._predictor = predictor

    def set(self, predictor: ModelPredictor) -> None:
        self._predictor = predictor

    def get(self) -> ModelPredictor | None:
        return self._predictor

    def require(self, name: str | None = None, version: str | None = None) -> ModelPredictor:
        predictor = self._predictor
        if predictor is None:
            raise ModelNotReadyError("the model is still loading; retry when /v2/health/ready answers 200")
        if name is not None and name != predictor.name:
            raise NotFoundError(f"model '{name}' is not served here; this server serves '{predictor.name}'")
        if version is not None and version != predictor.model_version:
            raise NotFoundError(
                f"model '{name}' has no version '{version}' here; this server serves version "
                f"'{predictor.model_version}'"
            )
        return predictor


def error_response(
    status_code: int, message: str, details: list[dict[str, Any]] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"error": message}
    if details:
        body["details"] = details[:_MAX_DETAILS]
    return JSONResponse(body, status_code=status_code)


def _input_metadata(predictor: ModelPredictor) -> list[dict[str, Any]]:
    out = []
    for col in predictor.classifier.inputs:
        datatype = "BYTES" if col.type in _TEXT_TYPES else "INT64" if col.type == "integer" else "FP64"
        out.append({"name": col.name, "datatype": datatype, "shape": [-1]})
    return out


def _output_names(predictor: ModelPredictor) -> tuple[str, str]:
    return predictor.spec.serving.output_score, predictor.spec.serving.output_label


async def _json_body(request: Request) -> Any:
    body = await request.body()
    if not body:
        raise InvalidInputError("the request body is empty; expected a JSON object", status_code=400)
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"the request body is not valid JSON: {exc}", status_code=400) from None


def _customer_ids_from_instances(instances: list[Any]) -> list[Any] | None:
    """The ids when every instance is `{"customer_id": ...}`; None when none mentions a customer id."""
    with_id = [isinstance(i, dict) and CUSTOMER_ID in i for i in instances]
    if not any(with_id):
        return None
    if not all(with_id) or any(len(i) != 1 for i in instances):
        raise InvalidInputError(
            f'instances must be either all feature rows or all {{"{CUSTOMER_ID}": ...}} objects with no '
            "other fields; this request mixes them"
        )
    return [i[CUSTOMER_ID] for i in instances]


def _v2_columns(
    predictor: ModelPredictor, request: InferRequestBody, raw: dict[str, bytes]
) -> tuple[str, Any]:
    """("customers", ids) or ("rows", list of feature mappings) from the request's input tensors."""
    names = [t.name for t in request.inputs]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise InvalidInputError(f"inputs {duplicated} are given more than once")
    if CUSTOMER_ID in names:
        if len(names) != 1:
            raise InvalidInputError(
                f"input '{CUSTOMER_ID}' asks for a lookup by customer id and must be the "
                f"only input; got {names}"
            )
        tensor = request.inputs[0]
        if tensor.datatype != "BYTES":
            raise InvalidInputError(f"input '{CUSTOMER_ID}' must have datatype BYTES; got {tensor.datatype}")
        if len(tensor.shape) not in (1, 2) or (len(tensor.shape) == 2 and tensor.shape[1] != 1):
            raise InvalidInputError(
                f"input '{CUSTOMER_ID}' must have shape [N] or [N, 1]; got {tensor.shape}"
            )
        return "customers", tensor_values(tensor, raw.get(tensor.name))

    inputs = {c.name: c for c in predictor.classifier.inputs}
    unknown = [n for n in names if n not in inputs]
    missing = [n for n in inputs if n not in names]
    if unknown or missing:
        parts = []
        if missing:
            parts.append(f"missing inputs {missing}")
        if unknown:
            parts.append(f"unknown inputs {unknown}")
        raise InvalidInputError(
            f"model '{predictor.name}': {' and '.join(parts)}; send one tensor per model input "
            f"(see GET /v2/models/{predictor.name}) or a single BYTES tensor '{CUSTOMER_ID}'"
        )
    columns: dict[str, list[Any]] = {}
    rows_count: int | None = None
    for tensor in request.inputs:
        col = inputs[tensor.name]
        allowed = {"BYTES"} if col.type in _TEXT_TYPES else _NUMBER_DTYPES
        if tensor.datatype not in allowed:
            expected = "BYTES" if col.type in _TEXT_TYPES else "INT64 or FP64 (any INT*/UINT*/FP*)"
            raise InvalidInputError(
                f"input '{tensor.name}' ({col.type}) must have datatype {expected}; got {tensor.datatype}"
            )
        if len(tensor.shape) not in (1, 2) or (len(tensor.shape) == 2 and tensor.shape[1] != 1):
            raise InvalidInputError(
                f"input '{tensor.name}' must have shape [N] or [N, 1] (one value per row); got {tensor.shape}"
            )
        if rows_count is None:
            rows_count = tensor.shape[0]
        elif tensor.shape[0] != rows_count:
            raise InvalidInputError(
                f"input '{tensor.name}' has {tensor.shape[0]} rows but "
                f"'{request.inputs[0].name}' has {rows_count}; all inputs need the "
                "same N"
            )
        columns[tensor.name] = tensor_values(tensor, raw.get(tensor.name))
    count = rows_count or 0
    predictor.check_batch(count)
    rows = [{name: values[i] for name, values in columns.items()} for i in range(count)]
    return "rows", rows


def _requested_outputs(predictor: ModelPredictor, requested: list[RequestedOutput] | None) -> list[str]:
    available = list(_output_names(predictor))
    if not requested:
        return available
    unknown = [o.name for o in requested if o.name not in available]
    if unknown:
        raise InvalidInputError(f"model '{predictor.name}' has no outputs {unknown}; it has {available}")
    return [o.name for o in requested]


def _v2_outputs(
    predictor: ModelPredictor, predictions: list[Prediction], names: list[str]
) -> list[dict[str, Any]]:
    score, label = _output_names(predictor)
    tensors = {
        score: {
            "name": score,
            "datatype": "FP64",
            "shape": [len(predictions)],
            "data": [p.probability for p in predictions],
        },
        label: {
            "name": label,
            "datatype": "BYTES",
            "shape": [len(predictions)],
            "data": [p.label for p in predictions],
        },
    }
    return [tensors[name] for name in names]


async def _score_rows(predictor: ModelPredictor, rows: list[Any]) -> list[Prediction]:
    if predictor.scores_inline(len(rows)):
        return predictor.predict_rows(rows)
    return await run_in_threadpool(predictor.predict_rows, rows)


def install_error_handlers(app: FastAPI) -> None:
    """KServe-style JSON errors (`{"error": ...}`) with the status each CXOps error knows."""

    @app.exception_handler(CXOpsError)
    async def _cxops_error(request: Request, exc: CXOpsError) -> JSONResponse:
        note_error(request.scope, exc)
        details = exc.problems if isinstance(exc, InputValidationError) else None
        if exc.status_code >= 500:
            logger.warning("request failed: %s", exc)
        return error_response(exc.status_code, exc.message, details)

    @app.exception_handler(RequestValidationError)
    async def _request_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:10]]
        return error_response(422, "malformed request: " + "; ".join(parts))

    @app.exception_handler(ValidationError)
    async def _pydantic_error(_: Request, exc: ValidationError) -> JSONResponse:
        return error_response(422, f"malformed request: {exc.error_count()} validation error(s): {exc}")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)


def create_kserve_app(
    predictor: ModelPredictor | PredictorSlot | None = None,
    *,
    server_name: str = "cxops",
    telemetry: Telemetry | None = None,
) -> FastAPI:
    """A FastAPI app with the KServe V1 and V2 routes for one predictor (set now, or later on the slot).

    Each inference request is traced and measured (`cxops.telemetry.serving`) on `telemetry`, by default
    the global providers that `configure_telemetry` sets.
    """
    slot = predictor if isinstance(predictor, PredictorSlot) else PredictorSlot(predictor)
    app = FastAPI(
        title=f"{server_name} KServe data plane",
        version=cxops.__version__,
        description="KServe V1 and Open Inference Protocol (V2) routes.",
        telemetry=FASTAPI_TELEMETRY,
    )
    app.state.predictor_slot = slot

    install_error_handlers(app)
    app.add_middleware(ModelServerMiddleware, slot=slot, telemetry=telemetry)

    # -- V1 -----------------------------------------------------------------------------------------

    @app.get("/v1/models")
    async def v1_models() -> dict[str, Any]:
        current = slot.get()
        return {"models": [current.name] if current else []}

    @app.post("/v1/models/{name}:predict")
    async def v1_predict(name: str, request: Request) -> dict[str, Any]:
        predictor = slot.require(name)
        body = await _json_body(request)
        instances = body.get("instances") if isinstance(body, dict) else None
        if not isinstance(instances, list):
            raise InvalidInputError(
                'the V1 request body must be {"instances": [...]}: a list of feature '
                f'rows or of {{"{CUSTOMER_ID}": ...}} objects'
            )
        ids = _customer_ids_from_instances(instances)
        if ids is not None:
            predictions = await run_in_threadpool(predictor.predict_customers, ids)
        else:
            predictions = await _score_rows(predictor, instances)
        return {"predictions": [p.to_dict() for p in predictions]}

    @app.get("/v1/models/{name}")
    async def v1_model(name: str) -> dict[str, Any]:
        predictor = slot.require(name)
        return {"name": predictor.name, "ready": True}

    # -- V2 (Open Inference Protocol) ---------------------------------------------------------------

    @app.get("/v2")
    async def v2_server_metadata() -> dict[str, Any]:
        return {"name": server_name, "version": cxops.__version__, "extensions": []}

    @app.get("/v2/health/live")
    async def v2_live() -> dict[str, Any]:
        return {"live": True}

    @app.get("/v2/health/ready")
    async def v2_ready() -> JSONResponse:
        ready = slot.get() is not None
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    def _metadata(name: str, version: str | None) -> dict[str, Any]:
        predictor = slot.require(name, version)
        score, label = _output_names(predictor)
        classes = getattr(predictor.classifier, "classes", None)
        parameters: dict[str, Any] = {
            "threshold": predictor.classifier.threshold,
            "max_batch_size": predictor.max_batch_size,
        }
        if classes is None:
            parameters["customer_id_input"] = CUSTOMER_ID
        else:
            parameters["classes"] = list(classes)
        return {
            "name": predictor.name,
            "versions": [predictor.model_version],
            "platform": "xgboost" if classes is None else "pytorch",
            "inputs": _input_metadata(predictor),
            "outputs": [
                {"name": score, "datatype": "FP64", "shape": [-1]},
                {"name": label, "datatype": "BYTES", "shape": [-1]},
            ],
            "parameters": parameters,
        }

    @app.get("/v2/models/{name}")
    async def v2_model(name: str) -> dict[str, Any]:
        return _metadata(name, None)

    @app.get("/v2/models/{name}/versions/{version}")
    async def v2_model_version(name: str, version: str) -> dict[str, Any]:
        return _metadata(name, version)

    @app.get("/v2/models/{name}/ready")
    async def v2_model_ready(name: str) -> dict[str, Any]:
        predictor = slot.require(name)
        return {"name": predictor.name, "ready": True}

    @app.get("/v2/models/{name}/versions/{version}/ready")
    async def v2_model_version_ready(name: str, version: str) -> dict[str, Any]:
        predictor = slot.require(name, version)
        return {"name": predictor.name, "ready": True}

    async def _infer(name: str, version: str | None, request: Request) -> dict[str, Any]:
        predictor = slot.require(name, version)
        infer, raw = parse_infer_request(await request.body(), request.headers.get(INFERENCE_HEADER))
        outputs = _requested_outputs(predictor, infer.outputs)
        kind, values = _v2_columns(predictor, infer, raw)
        if kind == "customers":
            predictions = await run_in_threadpool(predictor.predict_customers, values)
        else:
            predictions = await _score_rows(predictor, values)
        return {
            "model_name": predictor.name,
            "model_version": predictor.model_version,
            "id": infer.id or str(uuid.uuid4()),
            "parameters": (
                {"threshold": predictor.classifier.threshold}
                if predictor.classifier.threshold is not None
                else {}
            ),
            "outputs": _v2_outputs(predictor, predictions, outputs),
        }

    @app.post("/v2/models/{name}/infer")
    async def v2_infer(name: str, request: Request) -> dict[str, Any]:
        return await _infer(name, None, request)

    @app.post("/v2/models/{name}/versions/{version}/infer")
    async def v2_infer_version(name: str, version: str, request: Request) -> dict[str, Any]:
        return await _infer(name, version, request)

    return app
