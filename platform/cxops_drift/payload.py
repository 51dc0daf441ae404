"""Turn the body of an inference request into rows, whatever protocol the client spoke.

Shapes understood (see docs/drift-monitor.md):

- Open Inference Protocol V2: `{"inputs": [{"name", "shape": [n] or [n, 1], "datatype", "data"}, ...]}`, one
  columnar tensor per feature (or the text field's BYTES tensor);
- KServe V1: `{"instances": [{...}, ...]}`, a list of lists in feature order, or (text) a list of strings;
- the BentoML JSON API: `{"rows": [...]}`, `{"texts": [...]}`, `{"customer_ids": [...]}`;
- a single row object (`{"text": "..."}` or `{"tenure": 3, ...}`).

Rows are dicts keyed by feature (text models: by the text field), checked later by `quality`. A request
that carries only customer ids (the server looks the features up) has no rows to watch: it is counted as an
id-only request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cxops_drift.errors import InvalidError
from cxops_drift.spec import MonitorSpec

__all__ = ["RequestRows", "rows_of_request"]


@dataclass(frozen=True)
class RequestRows:
    """The watched rows of one request, and whether it named customers by id only."""

    rows: list[dict[str, Any]]
    id_only: bool = False


def _flatten(data: Any) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    out: list[Any] = []
    for item in data:
        out.extend(_flatten(item) if isinstance(item, list) else [item])
    return out


def _tensor_column(spec: MonitorSpec, index: int, tensor: Any) -> tuple[str, list[Any]]:
    where = f"V2 request of model '{spec.model}': inputs[{index}]"
    if not isinstance(tensor, Mapping) or not isinstance(tensor.get("name"), str) or "data" not in tensor:
        raise InvalidError(f"{where} must be an object with 'name', 'shape', 'datatype' and 'data'")
    name = tensor["name"]
    values = _flatten(tensor["data"])
    shape = tensor.get("shape", [len(values)])
    if (
        not isinstance(shape, list)
        or not 1 <= len(shape) <= 2
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
        or (len(shape) == 2 and shape[1] != 1)
    ):
        raise InvalidError(
            f"{where} ('{name}') has shape {shape!r}; a column tensor holds one value per row: [n] or [n, 1]"
        )
    if len(values) != shape[0]:
        raise InvalidError(f"{where} ('{name}') has shape {shape} but {len(values)} values")
    return name, values


def _from_v2(spec: MonitorSpec, inputs: Any) -> RequestRows:
    if not isinstance(inputs, list) or not inputs:
        raise InvalidError(
            f"V2 request of model '{spec.model}': 'inputs' must be a non-empty list of tensors"
        )
    columns = dict(_tensor_column(spec, i, t) for i, t in enumerate(inputs))
    watched = {n: v for n, v in columns.items() if n not in spec.id_fields}
    if not watched:
        return RequestRows(rows=[], id_only=True)
    lengths = {n: len(v) for n, v in watched.items()}
    if len(set(lengths.values())) > 1:
        raise InvalidError(
            f"V2 request of model '{spec.model}': tensors hold different numbers of rows {lengths}; "
            "every feature tensor needs one value per row"
        )
    count = next(iter(lengths.values()))
    return RequestRows(rows=[{n: v[i] for n, v in watched.items()} for i in range(count)])


def _row(spec: MonitorSpec, index: int, item: Any, where: str) -> dict[str, Any]:
    if isinstance(item, Mapping):
        return dict(item)
    if spec.kind == "text":
        if isinstance(item, list) and len(item) == 1:
            item = item[0]
        return {spec.text_field or "": item}
    if isinstance(item, list):
        if len(item) != len(spec.features):
            raise InvalidError(
                f"{where} of model '{spec.model}': row {index} is a list of {len(item)} values but the model "
                f"watches {len(spec.features)} features; send objects keyed by feature name"
            )
        return {f.name: v for f, v in zip(spec.features, item, strict=True)}
    raise InvalidError(
        f"{where} of model '{spec.model}': row {index} is {type(item).__name__}; "
        "send objects keyed by feature name"
    )


def _from_list(spec: MonitorSpec, items: Any, where: str) -> RequestRows:
    if not isinstance(items, list):
        raise InvalidError(f"{where} of model '{spec.model}' must be a list, got {type(items).__name__}")
    rows = [_row(spec, i, item, where) for i, item in enumerate(items)]
    ids = set(spec.id_fields)
    kept = [r for r in rows if not (r and set(r) <= ids)]
    return RequestRows(rows=kept, id_only=len(kept) < len(rows))


def rows_of_request(spec: MonitorSpec, body: Any) -> RequestRows:
    """The rows a request body carries for the model of `spec`; InvalidError (400) for an unknown shape."""
    if isinstance(body, list):
        return _from_list(spec, body, "request body")
    if not isinstance(body, Mapping):
        raise InvalidError(
            f"request body of model '{spec.model}' is {type(body).__name__}; expected a JSON object or list"
        )
    if "inputs" in body:
        return _from_v2(spec, body["inputs"])
    if "instances" in body:
        return _from_list(spec, body["instances"], "V1 'instances'")
    if "rows" in body:
        return _from_list(spec, body["rows"], "'rows'")
    if "texts" in body:
        texts = body["texts"]
        if not isinstance(texts, list):
            raise InvalidError(f"'texts' of model '{spec.model}' must be a list of strings")
        return RequestRows(rows=[{spec.text_field or "text": t} for t in texts])
    if "customer_ids" in body:
        return RequestRows(rows=[], id_only=True)
    watched = set(spec.columns)
    if watched & set(body):
        return RequestRows(rows=[dict(body)])
    if set(body) & set(spec.id_fields):
        return RequestRows(rows=[], id_only=True)
    raise InvalidError(
        f"request body of model '{spec.model}' has none of the known shapes (V2 'inputs', V1 'instances', "
        f"'rows', 'texts', customer ids {list(spec.id_fields)}, or an object with the watched fields "
        f"{sorted(watched)}); got keys {sorted(body)[:10]}"
    )
