"""API tokens: issue, list, revoke (`auth.manage`). Each issue and revoke is in the audit log."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from cxops.api import token_admin
from cxops.api.access import governance, require
from cxops.api.routes._responses import errors
from cxops.api.schemas import IssuedTokenOut, TokenIn, TokenOut
from cxops.governance.identity import Actor
from cxops.governance.service import Governance

__all__ = ["router"]

router = APIRouter(prefix="/v1/auth", tags=["auth"], responses=errors(401, 403))


@router.post("/tokens", response_model=IssuedTokenOut, status_code=201, responses=errors(422))
def issue_token(
    body: TokenIn, actor: Actor = Depends(require("auth.manage")), gov: Governance = Depends(governance)
) -> IssuedTokenOut:
    """Issue a token for a user named in policies/roles.yaml. The token is in this response only: the server
    keeps its SHA-256, never the token."""
    token, record = token_admin.issue(
        gov, actor, user=body.user, name=body.name, expires_in_days=body.expires_in_days
    )
    return IssuedTokenOut(token=token, record=TokenOut.model_validate(record))


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(
    actor: Actor = Depends(require("auth.manage")), gov: Governance = Depends(governance)
) -> list[TokenOut]:
    """Every token issued, active or not, oldest first (the first characters identify one)."""
    return [TokenOut.model_validate(t) for t in token_admin.tokens(gov, actor)]


@router.delete("/tokens/{token_id}", response_model=TokenOut, responses=errors(404, 422))
def revoke_token(
    token_id: int,
    reason: str = Query(min_length=1, description="Why; recorded in the audit log.", examples=["lost"]),
    actor: Actor = Depends(require("auth.manage")),
    gov: Governance = Depends(governance),
) -> TokenOut:
    """Revoke a token at once. Revoking a revoked token changes nothing."""
    return TokenOut.model_validate(token_admin.revoke(gov, actor, token_id, reason=reason))
