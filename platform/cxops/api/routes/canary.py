"""Canary releases (`cxops.canary.service.CanaryService`): what SREs change and everyone may read."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from cxops.api.access import governance, require
from cxops.api.routes._responses import errors
from cxops.governance.identity import Actor
from cxops.governance.service import Governance

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["canary"], responses=errors(401, 403))


class CanaryIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"version": 2, "steps": [5, 25, 50, 100], "interval_s": 600}]},
    )
    version: int = Field(description="The candidate version, in staging.")
    steps: list[float] = Field([5, 25, 50, 100], description="Traffic shares of the steps, in %.")
    interval_s: int = Field(600, ge=1, description="How long each step lasts.")
    auto: bool = Field(False, description="Let the analysis move, promote or roll back by itself.")
    shadow: bool = Field(False, description="Copies only: users always get the stable answer.")
    shadow_percent: float = Field(100, ge=0, le=100, description="Share of requests copied, for a shadow.")


class PercentIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"percent": 25, "reason": "steady"}]}
    )
    percent: float = Field(ge=0, le=100)
    reason: str = ""


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "p95 latency up"}]})
    reason: str = Field(min_length=1)


def _service(gov: Governance) -> Any:
    from cxops.canary.service import CanaryService

    return CanaryService(gov)


@router.get("/canaries")
def canaries(
    model: str | None = None,
    actor: Actor = Depends(require("models.read")),
    gov: Governance = Depends(governance),
) -> list[dict[str, Any]]:
    """Canaries in progress (of one model, or all)."""
    return [record.to_dict() for record in _service(gov).status(actor, model)]


@router.post("/models/{model}/canary", responses=errors(404, 409, 422))
def start(
    model: str,
    body: CanaryIn,
    actor: Actor = Depends(require("deployments.manage")),
    gov: Governance = Depends(governance),
) -> dict[str, Any]:
    """Start a canary (or a shadow) of a staging version against the production version."""
    record = _service(gov).start(
        actor,
        model,
        body.version,
        steps=body.steps,
        interval_s=body.interval_s,
        auto=body.auto,
        shadow=body.shadow,
        shadow_percent=body.shadow_percent,
    )
    return record.to_dict()


@router.post("/models/{model}/canary/percent", responses=errors(404, 409, 422))
def set_percent(
    model: str,
    body: PercentIn,
    actor: Actor = Depends(require("deployments.manage")),
    gov: Governance = Depends(governance),
) -> dict[str, Any]:
    """Set the candidate's share of traffic."""
    return _service(gov).set_percent(actor, model, body.percent, reason=body.reason).to_dict()


@router.post("/models/{model}/canary/promote", responses=errors(404, 409, 422))
def promote(
    model: str,
    body: ReasonIn,
    actor: Actor = Depends(require("deployments.manage")),
    gov: Governance = Depends(governance),
) -> dict[str, Any]:
    """Finish the canary: the candidate goes to production through every production gate."""
    record, transition = _service(gov).promote(actor, model, reason=body.reason)
    return {"canary": record.to_dict(), "transition": transition.to_dict()}


@router.post("/models/{model}/canary/rollback", responses=errors(404, 422))
def rollback(
    model: str,
    body: ReasonIn,
    actor: Actor = Depends(require("deployments.manage")),
    gov: Governance = Depends(governance),
) -> dict[str, Any]:
    """Send every request back to the stable version and end the canary."""
    return _service(gov).rollback(actor, model, reason=body.reason).to_dict()


class RollbackIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"version": 1, "reason": "errors since the last release"}]},
    )
    version: int = Field(description="A former production version to serve again.")
    reason: str = Field(min_length=1)


@router.post("/models/{model}/rollback", responses=errors(404, 409, 422))
def rollback_to(
    model: str,
    body: RollbackIn,
    actor: Actor = Depends(require("deployments.manage")),
    gov: Governance = Depends(governance),
) -> dict[str, Any]:
    """End the canary in progress, if any, and serve a former production version again."""
    ended, transition = _service(gov).roll_back_to(actor, model, body.version, reason=body.reason)
    return {
        "canary": None if ended is None else ended.to_dict(),
        "transition": None if transition is None else transition.to_dict(),
    }
