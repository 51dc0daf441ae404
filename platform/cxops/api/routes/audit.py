"""The hash-chained audit log."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query

from cxops.api.access import governance, require
from cxops.api.routes._responses import errors
from cxops.api.schemas import AuditEventOut, AuditVerificationOut
from cxops.governance.identity import Actor
from cxops.governance.service import Governance

__all__ = ["router"]

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=errors(401, 403))


@router.get("/events", response_model=list[AuditEventOut], responses=errors(422))
def audit_events(
    model: str | None = None,
    version: int | None = None,
    actor: str | None = Query(None, description="Only events by this user."),
    action: str | None = Query(None, description="An action or its prefix: `stage` finds every stage event."),
    since: datetime | None = Query(None, description="Events at or after this instant (ISO 8601)."),
    until: datetime | None = Query(None, description="Events before this instant (ISO 8601)."),
    limit: int = Query(100, ge=1, le=10_000),
    caller: Actor = Depends(require("audit.read")),
    gov: Governance = Depends(governance),
) -> list[AuditEventOut]:
    """Audit events, newest first, filtered by any of the parameters."""
    events = gov.audit_log(
        caller,
        model=model,
        version=version,
        actor=actor,
        action=action,
        since=since,
        until=until,
        limit=limit,
    )
    return [AuditEventOut.model_validate(e) for e in events]


@router.get("/verify", response_model=AuditVerificationOut)
def verify(
    actor: Actor = Depends(require("audit.verify")), gov: Governance = Depends(governance)
) -> AuditVerificationOut:
    """Recompute the whole hash chain; `ok` is false and `first_broken` names the first event that was
    edited, removed or moved. Keep `head` elsewhere to detect a truncated tail."""
    return AuditVerificationOut.model_validate(gov.verify_audit(actor))
