"""Liveness and identity."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from cxops import __version__
from cxops.api.access import authenticated, governance, public
from cxops.api.routes._responses import errors
from cxops.api.schemas import HealthOut, WhoAmIOut
from cxops.governance.identity import Actor
from cxops.governance.service import Governance

__all__ = ["router"]

router = APIRouter(tags=["system"])


@router.get("/healthz", response_model=HealthOut, dependencies=[Depends(public())])
def healthz() -> HealthOut:
    """Liveness: answers without a token or a database round trip."""
    return HealthOut(status="ok", version=__version__)


@router.get("/v1/whoami", response_model=WhoAmIOut, responses=errors(401))
def whoami(actor: Actor = Depends(authenticated()), gov: Governance = Depends(governance)) -> WhoAmIOut:
    """The user the token belongs to, their roles and what those roles grant."""
    granted = sorted({p for role in actor.roles for p in gov.roles.roles[role].permissions})
    return WhoAmIOut(name=actor.name, roles=list(actor.roles), permissions=granted)
