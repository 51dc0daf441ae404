"""Models, their versions, gates, promotion and approvals (`cxops.governance.service.Governance`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from cxops.api.access import governance, require
from cxops.api.routes._responses import errors
from cxops.api.schemas import (
    ApprovalOut,
    ApproveIn,
    GateReportOut,
    ModelSummaryOut,
    ModelVersionOut,
    PromoteIn,
    TransitionOut,
)
from cxops.governance.identity import Actor
from cxops.governance.service import Governance
from cxops.registry import Stage

__all__ = ["router"]

router = APIRouter(prefix="/v1/models", tags=["models"], responses=errors(401, 403))

_VERSION = "/{model}/versions/{version}"


@router.get("", response_model=list[ModelSummaryOut])
def list_models(
    actor: Actor = Depends(require("models.read")), gov: Governance = Depends(governance)
) -> list[ModelSummaryOut]:
    """Every registered model: how many versions, the latest, and how many are in each stage."""
    return [ModelSummaryOut.model_validate(s) for s in gov.list_models(actor)]


@router.get("/{model}/versions", response_model=list[ModelVersionOut], responses=errors(404))
def list_versions(
    model: str, actor: Actor = Depends(require("models.read")), gov: Governance = Depends(governance)
) -> list[ModelVersionOut]:
    """Every version of a model, oldest first."""
    return [ModelVersionOut.model_validate(v) for v in gov.list_versions(actor, model)]


@router.get(_VERSION, response_model=ModelVersionOut, responses=errors(404))
def get_version(
    model: str,
    version: int,
    actor: Actor = Depends(require("models.read")),
    gov: Governance = Depends(governance),
) -> ModelVersionOut:
    """One version: stage, metrics, artifacts, parameters and lineage."""
    return ModelVersionOut.model_validate(gov.get_version(actor, model, version))


@router.get(_VERSION + "/gates", response_model=GateReportOut, responses=errors(404, 422))
def check_gates(
    model: str,
    version: int,
    to: Stage = Query(Stage.PRODUCTION, description="The stage the version would move to."),
    actor: Actor = Depends(require("models.read")),
    gov: Governance = Depends(governance),
) -> GateReportOut:
    """The gates of a move, evaluated without making it (a dry run: nothing is recorded)."""
    return GateReportOut.model_validate(gov.check_gates(actor, model, version, to).to_dict())


@router.post(_VERSION + "/promote", response_model=TransitionOut, responses=errors(404, 409, 422))
def promote(
    model: str,
    version: int,
    body: PromoteIn,
    actor: Actor = Depends(require("models.promote")),
    gov: Governance = Depends(governance),
) -> TransitionOut:
    """Move a version to another stage when every gate passes. A failing gate answers 409 with every gate
    row (and records the blocked attempt); `override` moves it anyway, for roles granted models.override."""
    transition = gov.promote(actor, model, version, body.to, reason=body.reason, override=body.override)
    return TransitionOut.model_validate(transition)


@router.post(_VERSION + "/approve", response_model=ApprovalOut, responses=errors(404, 422))
def approve(
    model: str,
    version: int,
    body: ApproveIn,
    actor: Actor = Depends(require("models.approve")),
    gov: Governance = Depends(governance),
) -> ApprovalOut:
    """Sign off a version's move to a stage (the version's author may not)."""
    return ApprovalOut.model_validate(gov.approve(actor, model, version, body.to, comment=body.comment))


@router.get("/{model}/history", response_model=list[TransitionOut], responses=errors(404))
def history(
    model: str, actor: Actor = Depends(require("models.read")), gov: Governance = Depends(governance)
) -> list[TransitionOut]:
    """Every stage change of the model's versions, oldest first, with the gates and approvals of each."""
    return [TransitionOut.model_validate(t) for t in gov.history(actor, model)]


@router.get("/{model}/approvals", response_model=list[ApprovalOut])
def approvals(
    model: str,
    version: int | None = Query(None, description="Only this version's approvals."),
    actor: Actor = Depends(require("models.read")),
    gov: Governance = Depends(governance),
) -> list[ApprovalOut]:
    """Approvals of the model's versions, oldest first (`used_by` names the stage change that used one)."""
    return [ApprovalOut.model_validate(a) for a in gov.approvals(actor, model, version)]
