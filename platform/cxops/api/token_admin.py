"""API token administration under the `auth.manage` permission: what `cxops auth` (embedded mode) and the
`/v1/auth/tokens` routes both call, so both refuse and record alike."""

from __future__ import annotations

from datetime import timedelta

from cxops.governance.errors import GovernanceInputError
from cxops.governance.identity import Actor
from cxops.governance.service import Governance
from cxops.governance.tokens import TokenRecord, issue_token, list_tokens, revoke_token

__all__ = ["issue", "revoke", "tokens"]


def issue(
    gov: Governance, actor: Actor, *, user: str, name: str, expires_in_days: int | None = None
) -> tuple[str, TokenRecord]:
    """A new token for `user`, who must be named in policies/roles.yaml (a token of a user without roles
    could do nothing). Returns the token itself, which is never stored, and its record."""
    role = gov.authorize(actor, "auth.manage")
    if user not in gov.roles.users:
        known = ", ".join(sorted(gov.roles.users)) or "none"
        raise GovernanceInputError(
            f"user {user!r} is not named in policies/roles.yaml, so their token could do nothing; known "
            f"users: {known}. Add them under `users:` with their roles first"
        )
    if expires_in_days is not None and expires_in_days <= 0:
        raise GovernanceInputError(
            f"a token's lifetime must be at least one day, not {expires_in_days}; omit it for no expiry"
        )
    return issue_token(
        gov.registry,
        user=user,
        name=name,
        issued_by=actor.name,
        role=role,
        expires_in=timedelta(days=expires_in_days) if expires_in_days else None,
    )


def revoke(gov: Governance, actor: Actor, token_id: int, *, reason: str) -> TokenRecord:
    """Revoke a token at once; revoking a revoked token changes nothing."""
    role = gov.authorize(actor, "auth.manage")
    if not reason.strip():
        raise GovernanceInputError(f'revoking token {token_id} needs a reason: pass --reason "..."')
    return revoke_token(gov.registry, token_id, revoked_by=actor.name, role=role, reason=reason)


def tokens(gov: Governance, actor: Actor) -> list[TokenRecord]:
    """Every token ever issued (active, expired and revoked), oldest first; never the tokens themselves."""
    gov.authorize(actor, "auth.manage")
    return list_tokens(gov.registry)
