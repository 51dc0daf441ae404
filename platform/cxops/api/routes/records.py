"""Lineage, compliance reports, DPIA status and GDPR requests: what compliance officers read and ask for."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from cxops.api.access import governance, require
from cxops.api.routes._responses import errors
from cxops.api.schemas import ModelVersionOut
from cxops.governance.identity import Actor
from cxops.governance.service import Governance

__all__ = ["router"]

router = APIRouter(tags=["records"], responses=errors(401, 403))


class ErasureIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"customer_id": "7590-VHVEG", "reason": "request #4411 (art. 17)"}]},
    )
    customer_id: str = Field(min_length=1, description="The subject's customer id (pseudonymised at once).")
    reason: str = Field(min_length=1, description="The request being served: kept in the audit log.")


class PurgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"dry_run": True}]})
    dry_run: bool = Field(False, description="Count what would go without removing anything.")


@router.get("/v1/models/{model}/versions/{version}/lineage", responses=errors(404))
def lineage(
    model: str,
    version: int,
    actor: Actor = Depends(require("lineage.read")),
    gov: Governance = Depends(governance),
) -> dict[str, Any]:
    """Dataset snapshot → validation → feature views → training run → version → bento → deployments, and
    the stage changes: nodes and edges."""
    from cxops.governance.lineage import lineage_of, to_dict

    return to_dict(lineage_of(gov, actor, model, version))


@router.get("/v1/lineage/trained-on", response_model=list[ModelVersionOut], responses=errors(422))
def trained_on(
    dataset_version: str | None = Query(None, description="A dataset snapshot's version (content hash)."),
    feature_view: str | None = Query(None, description="A Feast feature view."),
    actor: Actor = Depends(require("lineage.read")),
    gov: Governance = Depends(governance),
) -> list[ModelVersionOut]:
    """The model versions trained on a dataset version or a feature view (the reverse lineage query)."""
    from cxops.governance.lineage import versions_trained_on

    records = versions_trained_on(gov, actor, dataset_version=dataset_version, feature_view=feature_view)
    return [ModelVersionOut.model_validate(r) for r in records]


@router.get(
    "/v1/models/{model}/versions/{version}/report", response_class=HTMLResponse, responses=errors(404)
)
def report(
    model: str,
    version: int,
    actor: Actor = Depends(require("reports.read")),
    gov: Governance = Depends(governance),
) -> HTMLResponse:
    """The compliance report of a version: one self-contained HTML page for the auditor."""
    from cxops.governance.report import write_compliance_report

    with tempfile.TemporaryDirectory() as out:
        path = write_compliance_report(gov, actor, model, version, Path(out))
        return HTMLResponse(path.read_text(encoding="utf-8"))


@router.get("/v1/dpia")
def dpia_status(
    actor: Actor = Depends(require("dpia.read")), gov: Governance = Depends(governance)
) -> list[dict[str, Any]]:
    """Each model's DPIA: in force, or what is missing, unsigned, expired or not covered."""
    from cxops.governance.dpia import dpia_status as statuses

    return [
        {**dataclasses.asdict(s), "path": str(s.path)}
        for s in statuses(gov.settings, gov.clock().date(), registry=gov.registry)
    ]


@router.post("/v1/gdpr/erasures", responses=errors(409, 422))
def erase(
    body: ErasureIn, actor: Actor = Depends(require("gdpr.erase")), gov: Governance = Depends(governance)
) -> dict[str, Any]:
    """Erase one data subject from the feature stores, request logs and dataset snapshots; flag the model
    versions trained on their rows for retraining; record it in the audit log (pseudonym only)."""
    from cxops.governance.gdpr import erase_subject

    return erase_subject(gov, actor, body.customer_id, reason=body.reason).to_dict()


@router.post("/v1/gdpr/purge", responses=errors(409))
def purge(
    body: PurgeIn, actor: Actor = Depends(require("gdpr.purge")), gov: Governance = Depends(governance)
) -> dict[str, Any]:
    """Drop every row older than its store's retention (policies/retention.yaml)."""
    from cxops.governance.gdpr import purge_expired

    return purge_expired(gov, actor, dry_run=body.dry_run).to_dict()


@router.get("/v1/gdpr/retraining-flags")
def flags(
    model: str | None = None,
    actor: Actor = Depends(require("models.read")),
    gov: Governance = Depends(governance),
) -> list[dict[str, Any]]:
    """Model versions trained on data that has since been erased, with their retraining deadline."""
    from cxops.governance.gdpr import retraining_flags

    return [flag.to_dict() for flag in retraining_flags(gov, actor, model)]
