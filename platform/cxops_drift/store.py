"""Results, appended one JSON line each to `<state>/results.jsonl`.

`seq` increases by one with every result and continues after a restart (the file is the source of truth:
its largest `seq` is read at start). A torn last line, as a crash mid-write leaves, is cut off at start;
any other unreadable line is skipped.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["MAX_LIMIT", "RESULTS_FILE", "ResultStore"]

RESULTS_FILE = "results.jsonl"
MAX_LIMIT = 1000
log = logging.getLogger(__name__)


class ResultStore:
    """An append-only JSON-lines file of results, safe to use from several threads."""

    def __init__(self, state: Path) -> None:
        self.path = state / RESULTS_FILE
        self._lock = threading.Lock()
        self.last_seq = 0
        self.tested: Counter[tuple[str, str]] = Counter()
        self._cut_torn_tail()
        for result in self._read():
            self.last_seq = max(self.last_seq, int(result.get("seq", 0)))
            self.tested[(result.get("model", ""), result.get("version", ""))] += 1

    def _cut_torn_tail(self) -> None:
        """Drop a last line without its newline (a write cut short), so the next append starts clean."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with self.path.open("rb+") as handle:
            data = handle.read()
            if data.endswith(b"\n"):
                return
            keep = data.rfind(b"\n") + 1
            log.warning("dropping a torn last line of %s (%d bytes)", self.path, len(data) - keep)
            handle.truncate(keep)

    def _read(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    log.warning("skipping unreadable line %d of %s", number, self.path)

    def append(self, result: dict[str, Any]) -> dict[str, Any]:
        """Give `result` the next `seq` (first key) and append it; return the stored result."""
        with self._lock:
            self.last_seq += 1
            stored = {"seq": self.last_seq, **{k: v for k, v in result.items() if k != "seq"}}
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(stored, separators=(",", ":")) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            self.tested[(stored["model"], stored["version"])] += 1
            return stored

    def query(
        self, *, model: str | None = None, version: str | None = None, after: int = 0, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Results with `seq` > `after`, oldest first, at most `limit` (capped at MAX_LIMIT)."""
        limit = max(1, min(limit, MAX_LIMIT))
        out: list[dict[str, Any]] = []
        with self._lock:
            for result in self._read():
                if result.get("seq", 0) <= after:
                    continue
                if (model is not None and result.get("model") != model) or (
                    version is not None and result.get("version") != version
                ):
                    continue
                out.append(result)
                if len(out) >= limit:
                    break
        return out
