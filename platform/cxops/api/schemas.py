"""Request and response bodies of the platform API. Response fields carry the names of the governance and
registry records they come from, so code reading either (the CLI in embedded or remote mode) reads the same
attributes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cxops.registry import Stage

__all__ = [
    "ApprovalOut",
    "ApproveIn",
    "AuditEventOut",
    "AuditVerificationOut",
    "ErrorBody",
    "ErrorOut",
    "GateOut",
    "GateReportOut",
    "HealthOut",
    "IssuedTokenOut",
    "ModelSummaryOut",
    "ModelVersionOut",
    "PromoteIn",
    "TokenIn",
    "TokenOut",
    "TransitionOut",
    "WhoAmIOut",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# Requests ------------------------------------------------------------------------------------------------


class PromoteIn(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"to": "staging", "reason": "passes offline evaluation"}]},
    )

    to: Stage
    reason: str = Field(min_length=1, description="Why the version moves; recorded in the audit log.")
    override: bool = Field(
        False, description="Move despite failing gates (needs models.override; recorded as an override)."
    )


class ApproveIn(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"to": "production", "comment": "bias report reviewed"}]},
    )

    to: Stage = Stage.PRODUCTION
    comment: str = ""


class TokenIn(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"user": "maya", "name": "laptop", "expires_in_days": 90}]},
    )

    user: str = Field(min_length=1, description="A user named in policies/roles.yaml.")
    name: str = Field(min_length=1, description="What the token is for, e.g. 'ci' or 'laptop'.")
    expires_in_days: int | None = Field(None, gt=0, description="Unset: the token never expires.")


# Responses -----------------------------------------------------------------------------------------------


class GateOut(_Out):
    gate: str
    check: str
    required: str
    actual: str
    passed: bool
    fix: str = ""


class ErrorBody(BaseModel):
    status: int
    message: str
    type: str = Field(description="The error's class, e.g. GateFailedError.")
    gates: list[GateOut] | None = Field(None, description="Every gate as evaluated, on a blocked move.")


class ErrorOut(BaseModel):
    error: ErrorBody


class HealthOut(BaseModel):
    status: str
    version: str


class WhoAmIOut(BaseModel):
    name: str
    roles: list[str]
    permissions: list[str] = Field(description="What the roles grant ('*' is every permission).")


class ModelSummaryOut(_Out):
    name: str
    latest_version: int
    versions: int
    stages: dict[Stage, int]
    latest_created_at: datetime


class ModelVersionOut(_Out):
    model: str
    version: int
    stage: Stage
    metrics: dict[str, Any]
    artifacts: dict[str, str]
    params: dict[str, Any]
    lineage: dict[str, Any]
    owner: str
    team: str
    created_by: str
    created_at: datetime
    dataset_version: str | None
    bento_tag: str | None
    description: str

    @property
    def ref(self) -> str:
        return f"{self.model}:{self.version}"


class GateReportOut(_Out):
    model: str
    version: int
    from_stage: Stage
    to_stage: Stage
    gates: list[GateOut]
    passed: bool


class TransitionOut(_Out):
    id: int
    model: str
    version: int
    from_stage: Stage
    to_stage: Stage
    actor: str
    role: str
    reason: str
    gates: list[GateOut]
    approvals: list[dict[str, Any]]
    override: bool
    created_at: datetime


class ApprovalOut(_Out):
    id: int
    model: str
    version: int
    target_stage: Stage
    approver: str
    role: str
    comment: str
    created_at: datetime
    expires_at: datetime
    used_by: int | None = Field(description="The stage change that used this approval, if any.")


class AuditEventOut(_Out):
    seq: int
    created_at: datetime
    actor: str
    role: str
    action: str
    model: str | None
    version: int | None
    reason: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str


class AuditVerificationOut(_Out):
    ok: bool
    events: int
    head: str
    first_broken: int | None = None
    problem: str = ""


class TokenOut(_Out):
    id: int
    name: str
    user: str
    prefix: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    active: bool


class IssuedTokenOut(BaseModel):
    token: str = Field(description="The bearer token. It is shown only in this response; store it now.")
    record: TokenOut
