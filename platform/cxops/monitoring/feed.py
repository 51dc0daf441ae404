"""Feeds the drift monitor from the gateway's request log, as KServe's logger feeds it in a cluster.

The log is JSON lines per model and day (`cxops.canary.events`). The feed remembers how far it read each file
(byte offsets in a small state file, saved only once the monitor accepted the batch), so a restart neither
loses nor resends events. Only complete lines are read: a line still being written is left for the next read.
A file that shrank was rewritten (an erasure removed a customer's events): it is read again from the start.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cxops.canary.events import EVENT_REQUEST
from cxops.features._offline import _locked

__all__ = ["LogFeed"]


@dataclass
class LogFeed:
    log_root: Path
    state_file: Path
    max_events: int = 5000
    """Events per read, so that one send stays small."""
    _offsets: dict[str, int] = field(default_factory=dict)
    _pending: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.state_file.is_file():
            self._offsets = {k: int(v) for k, v in json.loads(self.state_file.read_text()).items()}

    def read(self, models: list[str]) -> list[dict[str, Any]]:
        """Request events of `models` appended since the last `commit()`, oldest file first."""
        events: list[dict[str, Any]] = []
        self._pending = {}
        for model in models:
            for path in sorted((self.log_root / model).glob("*.jsonl")):
                if len(events) >= self.max_events:
                    return events
                key = str(path.relative_to(self.log_root))
                start = self._offsets.get(key, 0)
                with _locked(path):
                    size = path.stat().st_size
                    if size < start:
                        start = 0
                    if size == start:
                        continue
                    with path.open("rb") as handle:
                        handle.seek(start)
                        chunk = handle.read(size - start)
                end = chunk.rfind(b"\n") + 1
                if end == 0:
                    continue
                lines = chunk[:end].splitlines()
                taken = 0
                for line in lines:
                    taken += len(line) + 1
                    try:
                        event = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a line cut short by a crash
                    if event.get("type") == EVENT_REQUEST:
                        events.append(event)
                    if len(events) >= self.max_events:
                        break
                self._pending[key] = start + taken
        return events

    def commit(self) -> None:
        """Remember that the events of the last `read()` were delivered."""
        self._offsets.update(self._pending)
        self._pending = {}
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._offsets, indent=1, sort_keys=True))
        tmp.replace(self.state_file)
