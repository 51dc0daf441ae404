"""The optional alert webhook: results whose verdict is `drift` or `data_quality` are POSTed to it.

Body `{"source": "cxops-drift", "result": <result>}`, `Authorization: Bearer <token>` when a token is set.
A delivery that fails (unreachable, timeout, non-2xx) is logged and kept; it is retried, oldest first,
before the next alert is sent. At most `MAX_PENDING` undelivered alerts are kept (the oldest are dropped).
Nothing here raises: the monitor keeps testing windows when the receiver is down.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx

__all__ = ["ALERT_VERDICTS", "MAX_PENDING", "AlertSender"]

ALERT_VERDICTS = ("drift", "data_quality")
MAX_PENDING = 100
log = logging.getLogger(__name__)


class AlertSender:
    """Delivers alerts to one webhook, in order, with retries on the next alert."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 5.0,
        on_outcome: Callable[[str], None] | None = None,
    ) -> None:
        self.url = url
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = timeout
        self._pending: deque[dict[str, Any]] = deque(maxlen=MAX_PENDING)
        self._lock = threading.Lock()
        self._on_outcome = on_outcome or (lambda outcome: None)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def notify(self, result: dict[str, Any]) -> None:
        """Queue `result` when its verdict warrants an alert, then deliver everything queued."""
        with self._lock:
            if result.get("verdict") in ALERT_VERDICTS:
                self._pending.append({"source": "cxops-drift", "result": result})
            while self._pending:
                body = self._pending[0]
                try:
                    response = httpx.post(self.url, json=body, headers=self._headers, timeout=self._timeout)
                    response.raise_for_status()
                except httpx.HTTPError as error:
                    log.warning(
                        "alert for result %s not delivered to %s (%s); %d pending, retried with the next one",
                        body["result"].get("seq"),
                        self.url,
                        error,
                        len(self._pending),
                    )
                    self._on_outcome("failed")
                    return
                self._pending.popleft()
                self._on_outcome("delivered")
