"""Tumbling windows of rows, one per (model, version), and the routing of events to them.

A window fills with every row received (valid or not) and closes when it holds `window_size` rows; a
request larger than the space left spills into the next window. Only rows that pass the schema checks are
kept for the drift test; the others are counted. Events that name no version (`cxopsversion` absent) go to
the most recently registered version of their model. Windows live in memory: rows of open windows are lost
when the service stops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cxops_drift.quality import QualityTally, check_row, check_text
from cxops_drift.spec import MonitorSpec

__all__ = ["Window", "WindowBook", "WindowKey"]

WindowKey = tuple[str, str]
_MISSING = object()


@dataclass
class Window:
    """Rows of one model version, gathered until the window is full (or a forced evaluation takes it)."""

    model: str
    version: str
    spec: MonitorSpec
    rows: list[Any] = field(default_factory=list)
    id_only_requests: int = 0
    start: datetime | None = None
    end: datetime | None = None
    tally: QualityTally = field(init=False)

    def __post_init__(self) -> None:
        self.tally = QualityTally.for_spec(self.spec)

    @property
    def size(self) -> int:
        """Rows received, valid or not (what fills the window)."""
        return self.tally.rows

    @property
    def full(self) -> bool:
        return self.size >= self.spec.window_size

    def _touch(self, at: datetime) -> None:
        self.start = at if self.start is None else min(self.start, at)
        self.end = at if self.end is None else max(self.end, at)

    def add_row(self, row: dict[str, Any], at: datetime) -> None:
        """Check one row and count it; keep it for the test only when it is valid."""
        self._touch(at)
        if self.spec.kind == "text":
            name = self.spec.text_field or ""
            value = row.get(name, _MISSING)
            problem = check_text(None if value is _MISSING else value, present=value is not _MISSING)
            self.tally.add({name: problem} if problem else {}, (name,) if value is None else ())
            if problem is None:
                self.rows.append(value)
            return
        checked = check_row(self.spec, row)
        self.tally.add(checked.problems, checked.nulls)
        if checked.valid:
            self.rows.append(checked.values)

    def add_id_only(self, at: datetime) -> None:
        self._touch(at)
        self.id_only_requests += 1


@dataclass
class _Registration:
    spec: MonitorSpec
    order: float


class WindowBook:
    """The open window of every registered model version, and which version an event belongs to."""

    def __init__(self) -> None:
        self._registrations: dict[WindowKey, _Registration] = {}
        self._open: dict[WindowKey, Window] = {}

    def register(self, model: str, version: str, spec: MonitorSpec, order: float) -> None:
        """Watch a model version; `order` (e.g. its registration time) ranks the model's versions."""
        self._registrations[(model, version)] = _Registration(spec=spec, order=order)

    def route(self, model: str | None, version: str | None) -> WindowKey | None:
        """The window an event of `model` goes to, or None when the service does not watch it."""
        if model is None:
            return None
        if version is not None:
            return (model, version) if (model, version) in self._registrations else None
        versions = [(r.order, k) for k, r in self._registrations.items() if k[0] == model]
        return max(versions)[1] if versions else None

    def window(self, key: WindowKey) -> Window:
        """The open window of `key` (a new one when none is open)."""
        window = self._open.get(key)
        if window is None:
            window = Window(model=key[0], version=key[1], spec=self._registrations[key].spec)
            self._open[key] = window
        return window

    def add_rows(self, key: WindowKey, rows: list[dict[str, Any]], at: datetime) -> list[Window]:
        """Add rows to `key`'s open window; return the windows they filled (now closed)."""
        closed: list[Window] = []
        for row in rows:
            window = self.window(key)
            window.add_row(row, at)
            if window.full:
                closed.append(self._open.pop(key))
        return closed

    def add_id_only(self, key: WindowKey, at: datetime) -> None:
        self.window(key).add_id_only(at)

    def open_rows(self, key: WindowKey) -> int:
        window = self._open.get(key)
        return window.size if window else 0

    def take_partial(self, model: str | None = None) -> list[Window]:
        """Close and return every open window (of `model`, or all) holding at least `min_window` rows."""
        taken = [
            key
            for key, window in self._open.items()
            if (model is None or key[0] == model) and window.size >= window.spec.min_window
        ]
        return [self._open.pop(key) for key in taken]

    def ordered(self) -> list[WindowKey]:
        """The registered versions, oldest registration first."""
        return sorted(self._registrations, key=lambda k: self._registrations[k].order)
