"""CloudEvents as KServe's payload logger sends them: binary, structured or batch mode over HTTP.

- binary: the attributes are `ce-*` headers and the body is the event's data (KServe sends this);
- structured: `content-type: application/cloudevents+json`, one JSON object with a `data` member;
- batch: `content-type: application/cloudevents-batch+json`, a JSON list of structured events.

Only the envelope is read here; the data of an event is parsed when the event is used (`data_json`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cxops_drift.errors import InvalidError

__all__ = ["REQUEST_TYPE", "RESPONSE_TYPE", "CloudEvent", "parse_events"]

REQUEST_TYPE = "org.kubeflow.serving.inference.request"
RESPONSE_TYPE = "org.kubeflow.serving.inference.response"
STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
REQUIRED = ("specversion", "id", "type", "source")
_NO_DATA = object()


@dataclass(frozen=True)
class CloudEvent:
    """One event: its context attributes (extensions included) and its data, raw or already parsed."""

    attributes: dict[str, Any]
    data: Any = _NO_DATA
    raw: bytes | None = None

    @property
    def id(self) -> str:
        return str(self.attributes["id"])

    @property
    def type(self) -> str:
        return str(self.attributes["type"])

    @property
    def model(self) -> str | None:
        value = self.attributes.get("inferenceservicename")
        return str(value) if value not in (None, "") else None

    @property
    def version(self) -> str | None:
        value = self.attributes.get("cxopsversion")
        return str(value) if value not in (None, "") else None

    @property
    def time(self) -> datetime:
        """The event's `time`, or now when it is absent or unreadable (windows still close in order)."""
        value = self.attributes.get("time")
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
            except ValueError:
                pass
        return datetime.now(UTC)

    def data_json(self) -> Any:
        """The data as JSON; InvalidError (400) naming the event when it is not."""
        if self.data is not _NO_DATA and not isinstance(self.data, str):
            return self.data
        text = self.data if isinstance(self.data, str) else (self.raw or b"")
        if not text:
            raise InvalidError(
                f"event '{self.id}' ({self.type}) has no data; a request event carries the request body"
            )
        try:
            return json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise InvalidError(
                f"event '{self.id}' ({self.type}): the data is not valid JSON ({error})"
            ) from error


def _check_required(attributes: Mapping[str, Any], where: str) -> None:
    missing = [name for name in REQUIRED if attributes.get(name) in (None, "")]
    if missing:
        raise InvalidError(
            f"{where} lacks the CloudEvents attributes {missing}; "
            "every event needs specversion, id, type and source"
        )


def _structured(item: Any, where: str) -> CloudEvent:
    if not isinstance(item, Mapping):
        raise InvalidError(f"{where} must be a JSON object, got {type(item).__name__}")
    _check_required(item, where)
    attributes = {k: v for k, v in item.items() if k not in ("data", "data_base64")}
    if "data_base64" in item:
        try:
            raw = base64.b64decode(str(item["data_base64"]), validate=True)
        except (binascii.Error, ValueError) as error:
            raise InvalidError(f"{where}: 'data_base64' is not valid base64 ({error})") from error
        return CloudEvent(attributes=attributes, raw=raw)
    return CloudEvent(attributes=attributes, data=item.get("data", _NO_DATA))


def _load(body: bytes, mode: str) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidError(f"{mode} CloudEvents body is not valid JSON ({error})") from error


def parse_events(headers: Mapping[str, str], body: bytes) -> list[CloudEvent]:
    """The events of one HTTP request. `headers` are keyed in lower case."""
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == BATCH:
        items = _load(body, "batch-mode")
        if not isinstance(items, list):
            raise InvalidError(f"a batch-mode body must be a JSON list of events, got {type(items).__name__}")
        return [_structured(item, f"batch event [{i}]") for i, item in enumerate(items)]
    if content_type == STRUCTURED:
        return [_structured(_load(body, "structured-mode"), "the structured-mode event")]
    attributes = {k[3:]: v for k, v in headers.items() if k.startswith("ce-")}
    if not attributes:
        raise InvalidError(
            "the request is not a CloudEvent: binary mode carries ce-specversion, ce-id, ce-type and "
            f"ce-source headers; structured mode uses content-type {STRUCTURED}; batch mode {BATCH}"
        )
    _check_required(attributes, "the binary-mode event")
    return [CloudEvent(attributes=attributes, raw=body)]
