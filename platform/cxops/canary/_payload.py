"""What the gateway reads inside inference payloads: the customer a request is for, and the answers.

Requests name a customer as the V2 input tensor `customer_id` (JSON data, or the binary tensor data
extension), a V1 instance `{"customer_id": ...}`, or a JSON field `customer_id` / `customer_ids`. A batch
is routed by its first customer. Answers are (label, probability) rows from a V2 response (the BYTES output
is the label, the first floating-point output the probability), a V1 `predictions` list or a plain list.
"""

from __future__ import annotations

import json
import struct
from typing import Any, NamedTuple

__all__ = ["Answer", "answers_of", "compare_answers", "customer_id", "read_answers"]

_CUSTOMER = "customer_id"
_FLOAT_DTYPES = {"FP16", "FP32", "FP64"}


class Answer(NamedTuple):
    label: str | None
    probability: float | None


def _json(body: bytes, header_length: str | None = None) -> tuple[Any, int] | None:
    end = len(body)
    if header_length is not None:
        try:
            end = int(header_length)
        except ValueError:
            return None
        if not 0 < end <= len(body):
            return None
    try:
        return json.loads(body[:end]), end
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def _flat(values: Any) -> list[Any]:
    if not isinstance(values, list):
        return [values]
    out: list[Any] = []
    for value in values:
        out.extend(_flat(value))
    return out


def _an_id(value: Any) -> str | None:
    for item in _flat(value):
        if isinstance(item, bool) or item is None or isinstance(item, dict | list):
            continue
        text = str(item)
        if text:
            return text
    return None


def _first_binary_string(raw: bytes) -> str | None:
    """First element of a BYTES tensor in the binary extension: 4-byte little-endian length, then bytes."""
    if len(raw) < 4:
        return None
    (length,) = struct.unpack_from("<I", raw)
    if len(raw) < 4 + length:
        return None
    try:
        return raw[4 : 4 + length].decode("utf-8") or None
    except UnicodeDecodeError:
        return None


def _v2_customer(document: dict[str, Any], body: bytes, offset: int) -> str | None:
    inputs = document.get("inputs")
    if not isinstance(inputs, list):
        return None
    for tensor in inputs:
        if not isinstance(tensor, dict):
            return None
        parameters = tensor.get("parameters")
        size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
        if tensor.get("name") == _CUSTOMER:
            if tensor.get("data") is not None:
                return _an_id(tensor["data"])
            if isinstance(size, int) and size >= 0:
                return _first_binary_string(body[offset : offset + size])
            return None
        if isinstance(size, int) and size >= 0:
            offset += size
    return None


def customer_id(body: bytes, header_length: str | None = None) -> str | None:
    """The raw id of the customer a request is for, or None when it names none (feature rows, text)."""
    parsed = _json(body, header_length)
    if parsed is None:
        return None
    document, end = parsed
    if not isinstance(document, dict):
        return None
    for field in (_CUSTOMER, "customer_ids"):
        if field in document:
            return _an_id(document[field])
    instances = document.get("instances")
    if isinstance(instances, list):
        for instance in instances:
            if isinstance(instance, dict) and _CUSTOMER in instance:
                return _an_id(instance[_CUSTOMER])
        return None
    return _v2_customer(document, body, end)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _row(value: Any) -> Answer:
    if isinstance(value, dict):
        label = value.get("label")
        return Answer(None if label is None else str(label), _number(value.get("probability")))
    if isinstance(value, str):
        return Answer(value, None)
    return Answer(None, _number(value))


def read_answers(body: bytes) -> list[Answer] | None:
    """The answer rows of a model server's response body; None when it holds no classification."""
    parsed = _json(body)
    return None if parsed is None else answers_of(parsed[0])


def answers_of(document: Any) -> list[Answer] | None:
    """The answer rows of a decoded response; None when it holds no classification."""
    if isinstance(document, list):
        return [_row(v) for v in document]
    if not isinstance(document, dict):
        return None
    if isinstance(document.get("predictions"), list):
        return [_row(v) for v in document["predictions"]]
    outputs = document.get("outputs")
    if not isinstance(outputs, list):
        return None
    labels: list[Any] | None = None
    scores: list[Any] | None = None
    for tensor in outputs:
        if not isinstance(tensor, dict) or tensor.get("data") is None:
            continue
        if tensor.get("datatype") == "BYTES" and labels is None:
            labels = _flat(tensor["data"])
        elif tensor.get("datatype") in _FLOAT_DTYPES and scores is None:
            scores = _flat(tensor["data"])
    if labels is None and scores is None:
        return None
    count = max(len(labels or []), len(scores or []))
    return [
        Answer(
            None if labels is None or i >= len(labels) else str(labels[i]),
            None if scores is None or i >= len(scores) else _number(scores[i]),
        )
        for i in range(count)
    ]


def compare_answers(stable: bytes, shadow: bytes) -> dict[str, Any]:
    """How a shadow's answer differs from the stable one: label agreement and absolute probability gaps."""
    mine, theirs = read_answers(stable), read_answers(shadow)
    if mine is None or theirs is None or len(mine) != len(theirs):
        return {
            "comparable": False,
            "rows": None if mine is None else len(mine),
            "shadow_rows": None if theirs is None else len(theirs),
        }
    mismatches = sum(1 for a, b in zip(mine, theirs, strict=True) if a.label != b.label)
    gaps = [
        abs(a.probability - b.probability)
        for a, b in zip(mine, theirs, strict=True)
        if a.probability is not None and b.probability is not None
    ]
    return {
        "comparable": True,
        "rows": len(mine),
        "labels_agree": mismatches == 0,
        "label_mismatches": mismatches,
        "max_abs_diff": max(gaps) if gaps else None,
        "mean_abs_diff": sum(gaps) / len(gaps) if gaps else None,
    }
