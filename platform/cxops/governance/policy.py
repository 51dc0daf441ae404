"""Governance as data: `policies/promotion.yaml` (stages, gates, approvals, bias limits) and
`policies/roles.yaml` (roles, their permissions, named users), validated before anything is decided."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cxops.config import Settings
from cxops.governance.errors import PolicyError
from cxops.registry import Stage

__all__ = [
    "GATES",
    "PERMISSIONS",
    "ApprovalPolicy",
    "BiasPolicy",
    "PromotionPolicy",
    "Role",
    "RolesPolicy",
    "load_promotion_policy",
    "load_roles_policy",
]

GateName = Literal[
    "ownership",
    "data_validation",
    "metrics",
    "metric_regression",
    "bias",
    "bias_regression",
    "dpia",
    "approval",
]
GATES: tuple[str, ...] = GateName.__args__  # type: ignore[attr-defined]

PERMISSIONS = (
    "models.read",
    "models.promote",
    "models.approve",
    "models.override",
    "deployments.manage",
    "audit.read",
    "audit.verify",
    "lineage.read",
    "reports.read",
    "dpia.read",
    "dpia.sign",
    "gdpr.erase",
    "gdpr.purge",
    "auth.manage",
    "monitoring.alert",
    "monitoring.retrain",
    "outcomes.record",
)
"""Every permission a role can grant; `*` grants them all."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApprovalPolicy(_Strict):
    required: int = Field(1, ge=0)
    roles: list[str]
    ttl_hours: float = Field(72, gt=0)


class BiasPolicy(_Strict):
    resamples: int = Field(500, ge=50)
    confidence: float = Field(0.95, gt=0.5, lt=1)
    min_group_rows: int = Field(30, ge=2)
    limits: dict[str, dict[str, float]]
    """Task -> measure -> largest allowed gap."""
    regression_tolerance: float = Field(0.02, ge=0)


class PromotionPolicy(_Strict):
    version: str
    transitions: dict[Stage, list[Stage]]
    gates: dict[Stage, list[GateName]]
    metric_regression_tolerance: float = Field(0.02, ge=0)
    approval: ApprovalPolicy
    replaced_production_goes_to: Literal[Stage.STAGING, Stage.ARCHIVED] = Stage.ARCHIVED
    bias: BiasPolicy

    @model_validator(mode="after")
    def _approval_only_where_it_can_be_checked(self) -> PromotionPolicy:
        for stage, gates in self.gates.items():
            if stage in (Stage.CANDIDATE, Stage.ARCHIVED) and gates:
                raise ValueError(f"moves to '{stage}' are demotions and take no gates; remove {gates}")
        return self

    def gates_for(self, stage: Stage) -> list[str]:
        return list(self.gates.get(stage, []))

    def allowed(self, current: Stage, target: Stage) -> bool:
        return target in self.transitions.get(current, [])


class Role(_Strict):
    description: str
    permissions: list[str]

    @model_validator(mode="after")
    def _known_permissions(self) -> Role:
        unknown = sorted(set(self.permissions) - {*PERMISSIONS, "*"})
        if unknown:
            raise ValueError(f"unknown permissions {unknown}; known: {', '.join(PERMISSIONS)} or '*'")
        return self

    def grants(self, permission: str) -> bool:
        return "*" in self.permissions or permission in self.permissions


class RolesPolicy(_Strict):
    version: str
    roles: dict[str, Role]
    users: dict[str, list[str]] = {}
    default_roles: list[str] = []
    """Roles of a user the file does not name (the local CLI's OS user, say). API tokens are only issued to
    named users."""

    @model_validator(mode="after")
    def _users_have_known_roles(self) -> RolesPolicy:
        for user, roles in {**self.users, "(default_roles)": self.default_roles}.items():
            unknown = sorted(set(roles) - set(self.roles))
            if unknown:
                raise ValueError(
                    f"user '{user}' has unknown roles {unknown}; roles are: {', '.join(self.roles)}"
                )
        return self

    def roles_of(self, user: str) -> list[str]:
        return list(self.users.get(user, self.default_roles))


M = TypeVar("M", bound=BaseModel)


def _load(model: type[M], path: Path) -> M:
    if not path.is_file():
        raise PolicyError(f"policy file {path} is missing; restore it from the repository (policies/)")
    try:
        return model.model_validate(yaml.safe_load(path.read_text()))
    except yaml.YAMLError as error:
        raise PolicyError(f"policy file {path} is not valid YAML: {error}") from error
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in error.errors(include_url=False)
        )
        raise PolicyError(f"policy file {path} is invalid: {problems}") from error


def load_promotion_policy(settings: Settings) -> PromotionPolicy:
    policy = _load(PromotionPolicy, settings.root / "policies" / "promotion.yaml")
    roles = load_roles_policy(settings)
    unknown = sorted(set(policy.approval.roles) - set(roles.roles))
    if unknown:
        raise PolicyError(f"policies/promotion.yaml: approval roles {unknown} are not in policies/roles.yaml")
    return policy


def load_roles_policy(settings: Settings) -> RolesPolicy:
    return _load(RolesPolicy, settings.root / "policies" / "roles.yaml")
