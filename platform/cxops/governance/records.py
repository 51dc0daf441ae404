"""Plain records that governance returns (and the platform API serialises)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from cxops.registry._schema import Approval, StageTransition

__all__ = ["ApprovalRecord", "GateReport", "TransitionRecord"]


@dataclass(frozen=True)
class TransitionRecord:
    id: int
    model: str
    version: int
    from_stage: str
    to_stage: str
    actor: str
    role: str
    reason: str
    gates: list[dict[str, Any]]
    approvals: list[dict[str, Any]]
    override: bool
    created_at: datetime

    @classmethod
    def of(cls, row: StageTransition) -> TransitionRecord:
        return cls(
            row.id,
            row.model,
            row.version,
            row.from_stage,
            row.to_stage,
            row.actor,
            row.role,
            row.reason,
            list(row.gates),
            list(row.approvals),
            row.override,
            row.created_at,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ApprovalRecord:
    id: int
    model: str
    version: int
    target_stage: str
    approver: str
    role: str
    comment: str
    created_at: datetime
    expires_at: datetime
    used_by: int | None

    @classmethod
    def of(cls, row: Approval) -> ApprovalRecord:
        return cls(
            row.id,
            row.model,
            row.version,
            row.target_stage,
            row.approver,
            row.role,
            row.comment,
            row.created_at,
            row.expires_at,
            row.used_by,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GateReport:
    """The gates of a move, evaluated without making it."""

    model: str
    version: int
    from_stage: str
    to_stage: str
    gates: list[dict[str, Any]]

    @property
    def passed(self) -> bool:
        return all(g["passed"] for g in self.gates)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [g for g in self.gates if not g["passed"]]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}
