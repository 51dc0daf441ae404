"""The gateway's request log: one CloudEvent per inference request and per response, as KServe logs them.

The attributes are those of the KServe payload logger (binary-mode CloudEvents: `ce-specversion`,
`ce-id`, `ce-type`, `ce-source`, `ce-time` and the extensions `inferenceservicename`, `namespace`,
`component`, `endpoint`), so the drift monitor and the canary analysis read local logs and KServe's alike.
The request and the response of one call share their `id`. CXOps adds `cxopsversion` (model version that
answered), `cxopsstatus` (HTTP status; 502 with `cxopserror` when the server could not be reached),
`cxopslatencyms`, `cxopscanaryid` and `cxopsfallback` (a retry on stable after the candidate failed).
`subject` is the customer's pseudonym, so an erasure finds a customer's events without parsing their data.

Data is the JSON body with personal data masked before it reaches the disk: customer ids become their
keyed pseudonym, and every other string (free text above all) has its e-mails, phone numbers, IBANs,
cards and IPs replaced by placeholders. Events are JSON lines in `<home>/logs/<model>/<YYYY-MM-DD>.jsonl`
(UTC day), appended under the file's lock (`cxops.features._offline._locked`, which an erasure takes
too) so that a file can be rewritten without losing or tearing concurrent writes. When a failed candidate
call is retried on stable, the retry's events have the id `<request id>-fallback`.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cxops.canary._payload import answers_of
from cxops.config import Settings
from cxops.errors import InvalidInputError
from cxops.features._offline import _locked
from cxops.privacy import mask_pii

__all__ = [
    "COMPONENT",
    "ENDPOINT_CANARY",
    "ENDPOINT_DEFAULT",
    "ENDPOINT_SHADOW",
    "EVENT_COMPARISON",
    "EVENT_REQUEST",
    "EVENT_RESPONSE",
    "ID_FIELDS",
    "EventLog",
    "EventWriter",
    "PayloadMasker",
    "binary_message",
    "comparison_event",
    "inference_event",
    "log_root",
    "new_request_id",
    "read_events",
    "request_records",
]

logger = logging.getLogger(__name__)

EVENT_REQUEST = "org.kubeflow.serving.inference.request"
EVENT_RESPONSE = "org.kubeflow.serving.inference.response"
EVENT_COMPARISON = "org.cxops.canary.shadow.comparison"
COMPONENT = "predictor"
ENDPOINT_DEFAULT = "default"
"""KServe's name for the endpoint of the stable (non-canary) revision."""
ENDPOINT_CANARY = "canary"
ENDPOINT_SHADOW = "shadow"

ID_FIELDS = frozenset({"customer_id", "customer_ids", "customerID"})
"""JSON fields and V2 tensor names that carry customer identifiers."""
_STRUCTURAL = frozenset({"name", "datatype", "shape", "model_name", "model_version", "id", "parameters"})
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def log_root(settings: Settings) -> Path:
    """`<home>/logs`: one folder per model below it."""
    return settings.home_dir / "logs"


class PayloadMasker:
    """Masks the personal data of a JSON inference payload (request or response) before it is logged.

    Customer ids (`ID_FIELDS`, as JSON fields or V2 tensors) become pseudonyms; every other string has its
    PII masked, whatever field it sits in, so a free-text feature nobody listed still never leaks.
    """

    def __init__(self, pseudonymise: Callable[[str], str], *, id_fields: frozenset[str] = ID_FIELDS) -> None:
        self._pseudonymise = pseudonymise
        self.id_fields = id_fields

    def mask(self, document: Any) -> Any:
        """A masked copy of a decoded JSON document."""
        return self._walk(document, None)

    def mask_body(self, body: bytes, header_length: str | None = None) -> Any | None:
        """The masked JSON of a raw body; None when it is not JSON.

        With the V2 binary extension only the JSON header is kept: the raw tensor bytes that follow it
        are dropped, as they cannot be masked field by field.
        """
        if not body:
            return None
        end = len(body)
        if header_length is not None:
            try:
                end = min(max(int(header_length), 0), len(body))
            except ValueError:
                return None
        try:
            document = json.loads(body[:end])
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        return self.mask(document)

    def _id(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self._id(v) for v in value]
        if isinstance(value, dict):
            return self.mask(value)
        if value is None or value == "" or isinstance(value, bool):
            return value
        return self._pseudonymise(str(value))

    def _walk(self, value: Any, key: str | None) -> Any:
        if isinstance(value, dict):
            tensor = value.get("name") if isinstance(value.get("name"), str) else None
            out: dict[str, Any] = {}
            for k, v in value.items():
                if k in self.id_fields or (k == "data" and tensor in self.id_fields):
                    out[k] = self._id(v)
                else:
                    out[k] = self._walk(v, k)
            return out
        if isinstance(value, list):
            return [self._walk(v, key) for v in value]
        if isinstance(value, str) and key not in _STRUCTURAL:
            return mask_pii(value)
        return value


def _now() -> datetime:
    return datetime.now(UTC)


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def inference_event(
    event_type: str,
    *,
    request_id: str,
    source: str,
    model: str,
    endpoint: str,
    version: str,
    data: Any,
    namespace: str = "local",
    status: int | None = None,
    latency_ms: float | None = None,
    canary_id: str | None = None,
    subject: str | None = None,
    fallback: bool = False,
    error: str | None = None,
    traceparent: str | None = None,
    time: datetime | None = None,
) -> dict[str, Any]:
    """A request or response event in the KServe logger's attributes (CloudEvents JSON format).

    `data` must already be masked (`PayloadMasker`); `subject` is a pseudonym, never a raw id.
    """
    if event_type not in (EVENT_REQUEST, EVENT_RESPONSE):
        raise InvalidInputError(
            f"event type '{event_type}' is not an inference event; use {EVENT_REQUEST} or {EVENT_RESPONSE}"
        )
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": request_id,
        "source": source,
        "type": event_type,
        "time": _timestamp(time or _now()),
        "datacontenttype": "application/json",
        "inferenceservicename": model,
        "namespace": namespace,
        "component": COMPONENT,
        "endpoint": endpoint,
        "cxopsversion": version,
    }
    if subject:
        event["subject"] = subject
    if status is not None:
        event["cxopsstatus"] = status
    if latency_ms is not None:
        event["cxopslatencyms"] = round(latency_ms, 3)
    if canary_id:
        event["cxopscanaryid"] = canary_id
    if fallback:
        event["cxopsfallback"] = True
    if error:
        event["cxopserror"] = error
    if traceparent:
        event["traceparent"] = traceparent
    event["data"] = data
    return event


def comparison_event(
    *,
    request_id: str,
    source: str,
    model: str,
    stable_version: str,
    shadow_version: str,
    comparison: dict[str, Any],
    namespace: str = "local",
    traceparent: str | None = None,
    time: datetime | None = None,
) -> dict[str, Any]:
    """The record of a shadow copy: how the shadow's answer compared with the answer the customer got."""
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": f"{request_id}-shadow",
        "source": source,
        "type": EVENT_COMPARISON,
        "time": _timestamp(time or _now()),
        "datacontenttype": "application/json",
        "inferenceservicename": model,
        "namespace": namespace,
        "component": COMPONENT,
        "endpoint": ENDPOINT_SHADOW,
        "cxopsversion": shadow_version,
    }
    if traceparent:
        event["traceparent"] = traceparent
    event["data"] = {"request_id": request_id, "stable_version": stable_version, **comparison}
    return event


def binary_message(event: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    """The event as a binary-mode HTTP message (`ce-*` headers and the data as body), as KServe sends it."""
    headers = {"content-type": event.get("datacontenttype", "application/json")}
    for name, value in event.items():
        if name in ("data", "datacontenttype"):
            continue
        headers[f"ce-{name}"] = json.dumps(value) if isinstance(value, bool) else str(value)
    data = event.get("data")
    return headers, b"" if data is None else json.dumps(data, separators=(",", ":")).encode()


class EventLog:
    """The JSON-lines files of the request log below `root` (`<home>/logs`)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, model: str, day: str) -> Path:
        if not _MODEL_NAME.match(model):
            raise InvalidInputError(
                f"model name '{model}' cannot name a log folder; use letters, digits, '.', '_' and '-'"
            )
        return self.root / model / f"{day}.jsonl"

    def append(self, events: Iterable[dict[str, Any]]) -> int:
        """Append events to their model's file for their UTC day; returns how many were written."""
        by_file: dict[Path, list[str]] = defaultdict(list)
        for event in events:
            day = event["time"][:10]
            line = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
            by_file[self.path(event["inferenceservicename"], day)].append(line)
        for path, lines in by_file.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            with _locked(path), path.open("a", encoding="utf-8") as handle:
                handle.write("\n".join(lines) + "\n")
        return sum(len(lines) for lines in by_file.values())


class EventWriter:
    """Appends events from a queue on its own thread, so that logging never delays an answer."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self.written = 0
        self.failed = 0
        self._queue: queue.Queue[list[dict[str, Any]] | threading.Event | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, daemon=True, name="cxops-event-writer")
        self._thread.start()

    def submit(self, events: list[dict[str, Any]]) -> None:
        self._queue.put(events)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every event submitted so far is written (or failed); False when `timeout` ran out."""
        if not self._thread.is_alive():  # closed: nothing more will be written
            return self._queue.empty()
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        stop = False
        while not stop:
            items = [self._queue.get()]
            while True:  # drain what is queued, to write it in one locked append per file
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            events = [e for item in items if isinstance(item, list) for e in item]
            if events:
                try:
                    self.written += self.log.append(events)
                except Exception:  # a full disk must not take the gateway down: count and report it
                    self.failed += len(events)
                    logger.exception(
                        "could not write %d request-log event(s) under %s", len(events), self.log.root
                    )
            for item in items:
                if isinstance(item, threading.Event):
                    item.set()
            stop = any(item is None for item in items)


def _files(directory: Path) -> Iterator[Path]:
    if directory.is_file():
        yield directory
        return
    yield from sorted(directory.rglob("*.jsonl"))


def read_events(
    directory: Path, since: datetime | None = None, *, event_type: str | None = None
) -> list[dict[str, Any]]:
    """Events of the logs under `directory` (one model's folder, or the whole `<home>/logs`), oldest first.

    `since` (timezone-aware; naive means UTC) keeps events at or after it; files of earlier days are not
    read. A line cut short by a crash is skipped.
    """
    if not directory.exists():
        return []
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    first_day = since.astimezone(UTC).date().isoformat() if since is not None else None
    out: list[tuple[datetime, int, dict[str, Any]]] = []
    for path in _files(directory):
        if first_day is not None and path.stem < first_day:
            continue
        with _locked(path):
            lines = path.read_text(encoding="utf-8").splitlines()
        for line in lines:
            if not line.strip():
                continue
            try:
                event = json.loads(line)
                moment = datetime.fromisoformat(event["time"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
            if since is not None and moment < since:
                continue
            if event_type is not None and event.get("type") != event_type:
                continue
            out.append((moment, len(out), event))
    out.sort(key=lambda item: (item[0], item[1]))
    return [event for _, _, event in out]


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_records(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per logged response, as canary analysis reads them (`WindowStats.from_records`).

    Keys: version, status (None when the server could not be reached), latency_ms, prediction (the first
    row's probability, or its label for models without one), endpoint, fallback and timestamp.
    """
    records = []
    for event in events:
        if event.get("type") != EVENT_RESPONSE:
            continue
        answers = answers_of(event.get("data")) or []
        first = answers[0] if answers else None
        prediction = (
            None if first is None else first.probability if first.probability is not None else first.label
        )
        records.append(
            {
                "version": event.get("cxopsversion"),
                "status": None if event.get("cxopserror") else event.get("cxopsstatus"),
                "latency_ms": event.get("cxopslatencyms"),
                "prediction": prediction,
                "endpoint": event.get("endpoint"),
                "fallback": bool(event.get("cxopsfallback", False)),
                "timestamp": datetime.fromisoformat(event["time"]),
            }
        )
    return records
