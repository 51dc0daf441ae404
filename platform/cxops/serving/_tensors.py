"""Open Inference Protocol (KServe V2) tensors: parse a REST infer request into columns of values.

Accepts tensor data as JSON (`data`, flat or nested row-major) and the binary tensor data extension
(the KServe and Triton clients' default: a JSON header of `Inference-Header-Content-Length` bytes
followed by each input's raw bytes, announced by its `binary_data_size` parameter).
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cxops.errors import InvalidInputError

__all__ = [
    "INFERENCE_HEADER",
    "InferRequestBody",
    "RequestedOutput",
    "TensorIn",
    "parse_infer_request",
    "tensor_values",
]

INFERENCE_HEADER = "inference-header-content-length"

NUMERIC_DTYPES: dict[str, str] = {
    "BOOL": "?",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
DATATYPES = {*NUMERIC_DTYPES, "BYTES"}


class TensorIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    data: list[Any] | None = None


class RequestedOutput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    parameters: dict[str, Any] | None = None


class InferRequestBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[TensorIn] = Field(min_length=1)
    outputs: list[RequestedOutput] | None = None


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False)[:10]:
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def parse_infer_request(body: bytes, header_length: str | None) -> tuple[InferRequestBody, dict[str, bytes]]:
    """The request's JSON part, validated, and the raw bytes of each binary input (by name)."""
    if not body:
        raise InvalidInputError(
            'the request body is empty; expected an inference request {"inputs": [{"name", "shape", '
            '"datatype", "data"}, ...]}',
            status_code=400,
        )
    json_length = len(body)
    if header_length is not None:
        try:
            json_length = int(header_length)
        except ValueError:
            raise InvalidInputError(
                f"header Inference-Header-Content-Length must be an integer; got {header_length!r}",
                status_code=400,
            ) from None
        if not 0 < json_length <= len(body):
            raise InvalidInputError(
                f"header Inference-Header-Content-Length is {json_length} but the body has {len(body)} bytes",
                status_code=400,
            )
    try:
        document = json.loads(body[:json_length])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"the request body is not valid JSON: {exc}", status_code=400) from None
    if not isinstance(document, dict):
        raise InvalidInputError(
            "the request body must be a JSON object with an 'inputs' list", status_code=400
        )
    try:
        request = InferRequestBody.model_validate(document)
    except ValidationError as exc:
        raise InvalidInputError(f"malformed inference request: {_validation_message(exc)}") from None
    raw: dict[str, bytes] = {}
    offset = json_length
    for tensor in request.inputs:
        size = (tensor.parameters or {}).get("binary_data_size")
        if size is None:
            continue
        if header_length is None:
            raise InvalidInputError(
                f"input '{tensor.name}' announces binary_data_size but the request has "
                "no Inference-Header-Content-Length header",
                status_code=400,
            )
        if not isinstance(size, int) or size < 0 or offset + size > len(body):
            raise InvalidInputError(
                f"input '{tensor.name}': binary_data_size {size!r} does not fit the "
                f"{len(body) - offset} bytes left in the body",
                status_code=400,
            )
        raw[tensor.name] = body[offset : offset + size]
        offset += size
    return request, raw


def _flatten(data: list[Any]) -> list[Any]:
    out: list[Any] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            out.append(item)
        else:
            stack.pop()
    return out


def _decode_bytes(raw: bytes, name: str) -> list[str]:
    values, offset = [], 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise InvalidInputError(f"input '{name}': truncated BYTES element length at byte {offset}")
        (length,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        chunk = raw[offset : offset + length]
        if len(chunk) != length:
            raise InvalidInputError(f"input '{name}': truncated BYTES element at byte {offset}")
        try:
            values.append(chunk.decode("utf-8"))
        except UnicodeDecodeError:
            raise InvalidInputError(
                f"input '{name}': BYTES element at byte {offset} is not UTF-8 text"
            ) from None
        offset += length
    return values


def tensor_values(tensor: TensorIn, raw: bytes | None) -> list[Any]:
    """The tensor's elements as Python values (text for BYTES; int/float/None otherwise), row-major."""
    if tensor.datatype not in DATATYPES:
        raise InvalidInputError(
            f"input '{tensor.name}': unknown datatype '{tensor.datatype}'; expected one "
            f"of {sorted(DATATYPES)}"
        )
    if any(d < 0 for d in tensor.shape):
        raise InvalidInputError(f"input '{tensor.name}': shape {tensor.shape} has a negative dimension")
    expected = math.prod(tensor.shape)
    if raw is not None:
        if tensor.datatype == "BYTES":
            values: list[Any] = _decode_bytes(raw, tensor.name)
        else:
            dtype = np.dtype(NUMERIC_DTYPES[tensor.datatype])
            if len(raw) % dtype.itemsize:
                raise InvalidInputError(
                    f"input '{tensor.name}': {len(raw)} bytes is not a whole number of "
                    f"{tensor.datatype} elements"
                )
            values = np.frombuffer(raw, dtype=dtype).tolist()
    elif tensor.data is None:
        raise InvalidInputError(f"input '{tensor.name}' has no 'data' (and no binary data)")
    else:
        values = _flatten(tensor.data)
    if len(values) != expected:
        raise InvalidInputError(
            f"input '{tensor.name}': shape {tensor.shape} holds {expected} elements but "
            f"{len(values)} were sent"
        )
    return values
