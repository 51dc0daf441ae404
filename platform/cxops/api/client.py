"""A synchronous client of the platform API. Its methods mirror the `Governance` methods (without the actor:
the token names it) and return records with the same attribute names; an error answer is raised as the same
`CXOpsError` subclass, with the same message, that the server raised.

    with PlatformClient("http://127.0.0.1:8700", token) as client:
        client.promote("churn", 3, "staging", reason="passes offline evaluation")
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter

from cxops.api.schemas import (
    ApprovalOut,
    AuditEventOut,
    AuditVerificationOut,
    GateReportOut,
    HealthOut,
    IssuedTokenOut,
    ModelSummaryOut,
    ModelVersionOut,
    TokenOut,
    TransitionOut,
    WhoAmIOut,
)
from cxops.config import Settings
from cxops.errors import ConflictError, CXOpsError, InvalidInputError, NotFoundError
from cxops.governance.errors import AuthenticationError, GateFailedError, PermissionDeniedError
from cxops.registry import Stage

__all__ = ["PlatformClient", "client_from_settings", "error_from_response"]


M = TypeVar("M", bound=BaseModel)

_BY_STATUS: dict[int, type[CXOpsError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: InvalidInputError,
}


def _error_class(name: str) -> type[CXOpsError] | None:
    """The loaded `CXOpsError` subclass called `name`, if any (the server names the class it raised)."""
    pending: list[type[CXOpsError]] = [CXOpsError]
    while pending:
        cls = pending.pop()
        if cls.__name__ == name:
            return cls
        pending.extend(cls.__subclasses__())
    return None


def error_from_response(response: httpx.Response) -> CXOpsError:
    """The error an error answer stands for: its class by name when this process knows it, else by status."""
    status = response.status_code
    try:
        body = response.json()["error"]
        message, name, gates = str(body["message"]), str(body.get("type", "")), body.get("gates")
    except (ValueError, KeyError, TypeError):
        snippet = response.text.strip()[:300] or response.reason_phrase
        return CXOpsError(
            f"{response.request.method} {response.request.url} answered {status}: {snippet}",
            status_code=status,
        )
    if gates is not None:
        return GateFailedError(message, list(gates))
    cls = _error_class(name)
    if cls is not None and cls is not GateFailedError:
        try:
            return cls(message, status_code=status)
        except TypeError:  # a subclass with a constructor of its own
            pass
    return _BY_STATUS.get(status, CXOpsError)(message, status_code=status)


def _model(model: str) -> str:
    return f"/v1/models/{quote(model, safe='')}"


def _version(model: str, version: int) -> str:
    return f"{_model(model)}/versions/{int(version)}"


class PlatformClient:
    """The platform API at `base_url`, called with a bearer `token`."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PlatformClient({self.base_url!r})"

    def _call(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None
    ) -> Any:
        query = {
            key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in (params or {}).items()
            if value is not None
        }
        try:
            response = self._http.request(method, path, params=query, json=json)
        except httpx.TransportError as error:
            raise CXOpsError(
                f"cannot reach the CXOps API at {self.base_url} ({type(error).__name__}: {error}); check "
                "CXOPS_API_URL and that `cxops api serve` is running there",
                status_code=503,
            ) from error
        if not response.is_success:
            raise error_from_response(response)
        return response.json()

    def _one(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        return model.model_validate(self._call(method, path, **kwargs))

    def _many(self, model: type[M], method: str, path: str, **kwargs: Any) -> list[M]:
        return TypeAdapter(list[model]).validate_python(self._call(method, path, **kwargs))  # type: ignore[valid-type]

    # System -----------------------------------------------------------------------------------------------

    def health(self) -> HealthOut:
        return self._one(HealthOut, "GET", "/healthz")

    def whoami(self) -> WhoAmIOut:
        return self._one(WhoAmIOut, "GET", "/v1/whoami")

    # Models -----------------------------------------------------------------------------------------------

    def list_models(self) -> list[ModelSummaryOut]:
        return self._many(ModelSummaryOut, "GET", "/v1/models")

    def list_versions(self, model: str) -> list[ModelVersionOut]:
        return self._many(ModelVersionOut, "GET", f"{_model(model)}/versions")

    def get_version(self, model: str, version: int | None = None) -> ModelVersionOut:
        """One version; the latest when `version` is None."""
        if version is None:
            return self.list_versions(model)[-1]
        return self._one(ModelVersionOut, "GET", f"{_version(model, version)}")

    def check_gates(self, model: str, version: int, to: Stage | str = Stage.PRODUCTION) -> GateReportOut:
        return self._one(GateReportOut, "GET", f"{_version(model, version)}/gates", params={"to": str(to)})

    def promote(
        self, model: str, version: int, to: Stage | str, *, reason: str, override: bool = False
    ) -> TransitionOut:
        body = {"to": str(to), "reason": reason, "override": override}
        return self._one(TransitionOut, "POST", f"{_version(model, version)}/promote", json=body)

    def approve(
        self, model: str, version: int, to: Stage | str = Stage.PRODUCTION, *, comment: str = ""
    ) -> ApprovalOut:
        body = {"to": str(to), "comment": comment}
        return self._one(ApprovalOut, "POST", f"{_version(model, version)}/approve", json=body)

    def history(self, model: str) -> list[TransitionOut]:
        return self._many(TransitionOut, "GET", f"{_model(model)}/history")

    def approvals(self, model: str, version: int | None = None) -> list[ApprovalOut]:
        return self._many(ApprovalOut, "GET", f"{_model(model)}/approvals", params={"version": version})

    # Audit log --------------------------------------------------------------------------------------------

    def audit_log(
        self,
        *,
        model: str | None = None,
        version: int | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditEventOut]:
        params = {
            "model": model,
            "version": version,
            "actor": actor,
            "action": action,
            "since": since,
            "until": until,
            "limit": limit,
        }
        return self._many(AuditEventOut, "GET", "/v1/audit/events", params=params)

    def verify_audit(self) -> AuditVerificationOut:
        return self._one(AuditVerificationOut, "GET", "/v1/audit/verify")

    # Tokens -----------------------------------------------------------------------------------------------

    def issue_token(self, user: str, name: str, expires_in_days: int | None = None) -> IssuedTokenOut:
        body = {"user": user, "name": name, "expires_in_days": expires_in_days}
        return self._one(IssuedTokenOut, "POST", "/v1/auth/tokens", json=body)

    def list_tokens(self) -> list[TokenOut]:
        return self._many(TokenOut, "GET", "/v1/auth/tokens")

    def revoke_token(self, token_id: int, *, reason: str) -> TokenOut:
        return self._one(TokenOut, "DELETE", f"/v1/auth/tokens/{token_id}", params={"reason": reason})


def client_from_settings(settings: Settings) -> PlatformClient | None:
    """A client of the API at `CXOPS_API_URL` with the token in `CXOPS_API_TOKEN`; None when no URL is set
    (the CLI then works on the local store, embedded)."""
    url = (settings.api_url or "").strip()
    if not url:
        return None
    if settings.api_token is None or not settings.api_token.get_secret_value().strip():
        raise AuthenticationError(
            f"CXOPS_API_URL is set ({url}) but CXOPS_API_TOKEN is not; export the token an admin issued you "
            "(`cxops auth issue --user YOU --name laptop`), or unset CXOPS_API_URL to use the local store"
        )
    return PlatformClient(url, settings.api_token.get_secret_value().strip())
