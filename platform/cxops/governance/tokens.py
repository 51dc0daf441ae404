"""Bearer tokens of the platform API. A token is shown once when issued; only its SHA-256 is stored, so a
leaked database does not leak working tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cxops.governance.errors import AuthenticationError, GovernanceInputError, GovernanceNotFoundError
from cxops.registry import Registry
from cxops.registry._audit import append_event
from cxops.registry._schema import ApiToken, utcnow

__all__ = ["TOKEN_PREFIX", "TokenRecord", "authenticate", "issue_token", "list_tokens", "revoke_token"]

TOKEN_PREFIX = "cxo_"


@dataclass(frozen=True)
class TokenRecord:
    id: int
    name: str
    user: str
    prefix: str
    """The first characters of the token, to recognise it without storing it."""
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > utcnow())


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _record(row: ApiToken) -> TokenRecord:
    return TokenRecord(
        row.id,
        row.name,
        row.actor,
        row.prefix,
        row.created_by,
        row.created_at,
        row.expires_at,
        row.revoked_at,
    )


def issue_token(
    registry: Registry,
    *,
    user: str,
    name: str,
    issued_by: str,
    role: str,
    expires_in: timedelta | None = None,
) -> tuple[str, TokenRecord]:
    """A new token for `user`; returns the token itself (shown once) and its record."""
    if not name.strip() or not user.strip():
        raise GovernanceInputError("a token needs a user and a name (what it is for, e.g. 'ci' or 'laptop')")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)

    def write(session: Session) -> TokenRecord:
        row = ApiToken(
            name=name,
            actor=user,
            token_hash=_digest(token),
            prefix=token[:10],
            created_by=issued_by,
            expires_at=utcnow() + expires_in if expires_in else None,
        )
        session.add(row)
        session.flush()
        append_event(
            session,
            actor=issued_by,
            role=role,
            action="token.issued",
            payload={"token_id": row.id, "user": user, "name": name, "expires_at": row.expires_at},
        )
        return _record(row)

    return token, registry.write(write, f"issuing a token for {user!r}")


def revoke_token(
    registry: Registry, token_id: int, *, revoked_by: str, role: str, reason: str
) -> TokenRecord:
    def write(session: Session) -> TokenRecord:
        row = session.get(ApiToken, token_id)
        if row is None:
            raise GovernanceNotFoundError(f"no API token with id {token_id}; `cxops auth list` shows them")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            append_event(
                session,
                actor=revoked_by,
                role=role,
                action="token.revoked",
                reason=reason,
                payload={"token_id": row.id, "user": row.actor, "name": row.name},
            )
        return _record(row)

    return registry.write(write, f"revoking token {token_id}")


def list_tokens(registry: Registry) -> list[TokenRecord]:
    with registry.reading() as session:
        return [_record(row) for row in session.scalars(sa.select(ApiToken).order_by(ApiToken.id))]


def authenticate(registry: Registry, token: str) -> str:
    """The user a bearer token belongs to; 401 for an unknown, expired or revoked token."""
    if not token.startswith(TOKEN_PREFIX):
        raise AuthenticationError("not a CXOps API token; issue one with `cxops auth issue --user NAME`")
    with registry.reading() as session:
        row = session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == _digest(token)))
        if row is None:
            raise AuthenticationError("unknown API token; issue one with `cxops auth issue --user NAME`")
        record = _record(row)
    if record.revoked_at is not None:
        raise AuthenticationError(f"API token '{record.name}' of {record.user} was revoked; issue a new one")
    if record.expires_at is not None and record.expires_at <= utcnow():
        raise AuthenticationError(f"API token '{record.name}' of {record.user} expired; issue a new one")
    return record.user
