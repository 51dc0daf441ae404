"""A Python client for the triage service.

    with TriageClient("http://triage.cxops.svc") as triage:
        result = triage.triage("My internet is down again!", customer_id="7590-VHVEG", channel="chat")
        result.queue, result.priority, result.escalate_to_human, result.reasons

An error answer (4xx/5xx) raises `TriageServiceError` with the server's status and `error` message;
a service that cannot be reached raises `TriageUnavailableError`.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

from cxops.triage._errors import TriageServiceError, TriageUnavailableError
from cxops.triage.policy import Channel
from cxops.triage.schemas import TriageResult

__all__ = ["TriageClient", "TriageResult", "TriageServiceError", "TriageUnavailableError"]


class TriageClient:
    """Synchronous client of `POST /v1/triage`, `GET /healthz` and `GET /readyz`."""

    def __init__(
        self, base_url: str, *, timeout: float = 10.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def triage(
        self,
        message: str,
        customer_id: str | None = None,
        channel: Channel | None = None,
        *,
        request_id: str | None = None,
    ) -> TriageResult:
        """The triage decision for one message. `request_id` is passed on to the model servers' logs."""
        headers = {"X-Request-ID": request_id} if request_id else None
        body = {"message": message, "customer_id": customer_id, "channel": channel}
        response = self._send("POST", "/v1/triage", json=body, headers=headers)
        return TriageResult.model_validate(response.json())

    def health(self) -> dict[str, Any]:
        return self._send("GET", "/healthz").json()

    def ready(self) -> dict[str, Any]:
        """The readiness report (`{"ready": bool, "models": {...}}`), also when the service is not ready."""
        try:
            return self._send("GET", "/readyz").json()
        except TriageServiceError as exc:
            if exc.status_code == 503 and isinstance(exc.body, dict):
                return exc.body
            raise

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise TriageUnavailableError(
                f"the triage service at {self.base_url} could not be reached ({type(exc).__name__}); "
                "check the URL and that `cxops triage serve` is running"
            ) from None
        if response.status_code >= 400:
            try:
                body: Any = response.json()
            except ValueError:
                body = None
            message = body.get("error") if isinstance(body, dict) else None
            raise TriageServiceError(
                f"the triage service answered HTTP {response.status_code}: {message or response.text[:200]}",
                status_code=response.status_code,
                error=message or "",
                body=body,
            )
        return response

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TriageClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
