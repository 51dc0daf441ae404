"""Who is acting, and whether their roles allow it."""

from __future__ import annotations

from dataclasses import dataclass

from cxops.governance.errors import PermissionDeniedError
from cxops.governance.policy import RolesPolicy

__all__ = ["Actor", "actor_for", "authorize"]


@dataclass(frozen=True)
class Actor:
    name: str
    roles: tuple[str, ...]


def actor_for(name: str, roles: RolesPolicy) -> Actor:
    """The user `name` with the roles `policies/roles.yaml` gives them (none for an unknown user)."""
    return Actor(name, tuple(roles.roles_of(name)))


def authorize(actor: Actor, permission: str, roles: RolesPolicy) -> str:
    """The first of the actor's roles that grants `permission`; refuse (403) when none does."""
    for role in actor.roles:
        if role in roles.roles and roles.roles[role].grants(permission):
            return role
    granting = [name for name, role in roles.roles.items() if role.grants(permission)]
    held = ", ".join(actor.roles) if actor.roles else "no role"
    raise PermissionDeniedError(
        f"user '{actor.name}' ({held}) may not do '{permission}'; roles that may: {', '.join(granting)}. "
        "Ask an admin to grant one in policies/roles.yaml, or act as a user who holds it"
    )
