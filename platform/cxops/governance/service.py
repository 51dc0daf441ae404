"""The governance service: the one layer that the CLI (embedded mode) and the platform API both call.

Every method takes the acting user, checks the permission its action needs against `policies/roles.yaml`,
and records each state change in the audit log in the same transaction as the change.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cxops.config import Settings, get_settings
from cxops.governance.errors import GateFailedError, GovernanceInputError, PermissionDeniedError
from cxops.governance.gates import GateContext, evaluate_gates
from cxops.governance.identity import Actor, actor_for, authorize
from cxops.governance.policy import PromotionPolicy, RolesPolicy, load_promotion_policy, load_roles_policy
from cxops.governance.records import ApprovalRecord, GateReport, TransitionRecord
from cxops.registry import (
    AuditRecord,
    AuditVerification,
    ModelSummary,
    ModelVersionRecord,
    Registry,
    RegistryConflictError,
    Stage,
)
from cxops.registry._audit import append_event
from cxops.registry._schema import Approval, ModelVersion, RetrainingFlag, StageTransition, utcnow
from cxops.specs import load_spec

__all__ = ["Governance"]

# Namespace of the per-model PostgreSQL advisory lock held while a stage changes.
_PG_STAGE_LOCK_NS = 0x43584F73


def _production_row(session: Session, model: str) -> ModelVersion | None:
    return session.scalar(
        sa.select(ModelVersion).where(
            ModelVersion.model == model, ModelVersion.stage == Stage.PRODUCTION.value
        )
    )


class Governance:
    """Promotion with gates and approvals, history, the audit log and API tokens, under role checks."""

    def __init__(
        self, registry: Registry, settings: Settings, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.registry = registry
        self.settings = settings
        self.clock = clock
        self.roles: RolesPolicy = load_roles_policy(settings)
        self.policy: PromotionPolicy = load_promotion_policy(settings)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Governance:
        settings = settings or get_settings()
        return cls(Registry.from_settings(settings), settings)

    def close(self) -> None:
        self.registry.close()

    def __enter__(self) -> Governance:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Identity ----------------------------------------------------------------------------------------------

    def actor(self, name: str) -> Actor:
        return actor_for(name, self.roles)

    def authorize(self, actor: Actor, permission: str) -> str:
        return authorize(actor, permission, self.roles)

    # Registry reads --------------------------------------------------------------------------------------

    def list_models(self, actor: Actor) -> list[ModelSummary]:
        self.authorize(actor, "models.read")
        return self.registry.list_models()

    def get_version(self, actor: Actor, model: str, version: int | None = None) -> ModelVersionRecord:
        self.authorize(actor, "models.read")
        return self.registry.get_version(model, version)

    def list_versions(self, actor: Actor, model: str) -> list[ModelVersionRecord]:
        self.authorize(actor, "models.read")
        return self.registry.list_versions(model)

    def production_version(self, model: str) -> ModelVersionRecord | None:
        with self.registry.reading() as session:
            number = session.scalar(
                sa.select(ModelVersion.version).where(
                    ModelVersion.model == model, ModelVersion.stage == Stage.PRODUCTION.value
                )
            )
        return None if number is None else self.registry.get_version(model, number)

    # Gates and promotion -----------------------------------------------------------------------------------

    def _target(self, record: ModelVersionRecord, to: Stage | str) -> Stage:
        try:
            target = Stage(to)
        except ValueError:
            raise GovernanceInputError(
                f"unknown stage {to!r}; stages are: {', '.join(s.value for s in Stage)}"
            ) from None
        if not self.policy.allowed(record.stage, target):
            allowed = ", ".join(s.value for s in self.policy.transitions.get(record.stage, [])) or "none"
            raise GovernanceInputError(
                f"{record.ref} is in {record.stage}; it cannot move to {target.value} "
                f"(from {record.stage} it may move to: {allowed}; see policies/promotion.yaml)"
            )
        return target

    def _context(self, record: ModelVersionRecord, target: Stage) -> GateContext:
        return GateContext(
            version=record,
            target=target,
            spec=load_spec(record.model, self.settings),
            policy=self.policy,
            settings=self.settings,
            registry=self.registry,
            now=self.clock(),
            production=self.production_version(record.model) if target == Stage.PRODUCTION else None,
        )

    def check_gates(self, actor: Actor, model: str, version: int, to: Stage | str) -> GateReport:
        """The gates of a move, evaluated and shown without making it (nothing is recorded)."""
        self.authorize(actor, "models.read")
        record = self.registry.get_version(model, version)
        target = self._target(record, to)
        gates = [g.to_dict() for g in evaluate_gates(self._context(record, target))]
        return GateReport(model, version, record.stage.value, target.value, gates)

    def promote(
        self,
        actor: Actor,
        model: str,
        version: int,
        to: Stage | str,
        *,
        reason: str,
        override: bool = False,
    ) -> TransitionRecord:
        """Move a version to another stage if every gate passes (or an admin overrides, with a reason).

        Promoting to production moves the current production version out (policy
        `replaced_production_goes_to`) in the same transaction: there is never more than one, even under
        concurrent promotions (the database also refuses a second one)."""
        role = self.authorize(actor, "models.promote")
        if override:
            role = self.authorize(actor, "models.override")
        if not reason.strip():
            raise GovernanceInputError('a stage change needs a reason: pass --reason "..."')
        record = self.registry.get_version(model, version)
        target = self._target(record, to)
        ctx = self._context(record, target)
        gates = [g.to_dict() for g in evaluate_gates(ctx)]
        failed = [g for g in gates if not g["passed"]]
        if failed and not override:
            self.registry.record_event(
                actor=actor.name,
                role=role,
                action="stage.blocked",
                reason=reason,
                model=model,
                version=version,
                payload={"from": record.stage.value, "to": target.value, "failed_gates": failed},
            )
            lines = "; ".join(
                f"{g['gate']} ({g['check']}): {g['actual']}, needs {g['required']}" for g in failed
            )
            fixes = "; ".join(dict.fromkeys(g["fix"] for g in failed if g["fix"]))
            raise GateFailedError(
                f"{record.ref} cannot move to {target.value}: {len(failed)} gate check(s) failed: {lines}. "
                f"To fix: {fixes}",
                gates,
            )
        seen_production = ctx.production.version if ctx.production else None

        def write(session: Session) -> TransitionRecord:
            if session.get_bind().dialect.name == "postgresql":
                session.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:ns, hashtext(:model))"),
                    {"ns": _PG_STAGE_LOCK_NS, "model": model},
                )
            row = session.scalar(
                sa.select(ModelVersion).where(ModelVersion.model == model, ModelVersion.version == version)
            )
            assert row is not None
            if row.stage != record.stage.value:
                raise RegistryConflictError(
                    f"{record.ref} moved from {record.stage.value} to {row.stage} meanwhile; look at "
                    f"`cxops models history {model}` and try again"
                )
            if target == Stage.PRODUCTION:
                current = _production_row(session, model)
                if (current.version if current else None) != seen_production:
                    raise RegistryConflictError(
                        f"the production version of {model!r} changed while the gates of {record.ref} were "
                        "evaluated (another promotion won); evaluate again and retry"
                    )
                if current is not None:
                    self._move(
                        session,
                        current,
                        self.policy.replaced_production_goes_to,
                        actor,
                        role,
                        f"replaced in production by {record.ref}: {reason}",
                    )
            used = [a["id"] for a in ctx.approvals]
            transition = self._move(
                session,
                row,
                target,
                actor,
                role,
                reason,
                gates=gates,
                approvals=ctx.approvals,
                override=override,
            )
            if used:
                claimed = session.execute(
                    sa.update(Approval)
                    .where(Approval.id.in_(used), Approval.used_by.is_(None))
                    .values(used_by=transition.id)
                )
                if claimed.rowcount != len(used):
                    raise RegistryConflictError("an approval was used by another promotion meanwhile; retry")
            return transition

        return self.registry.write(write, f"moving {record.ref} to {target.value}")

    def restore_production(self, actor: Actor, model: str, version: int, *, reason: str) -> TransitionRecord:
        """Roll production back to `version`, a version that served in production before (an SRE's
        emergency move, `cxops rollback --to-version`). It takes no gates: they passed when it was first
        promoted, and a rollback must not wait for an approval. The move is audited as `stage.rolled_back`;
        the version it replaces goes where the policy sends replaced versions. Idempotent."""
        role = self.authorize(actor, "deployments.manage")
        if not reason.strip():
            raise GovernanceInputError('a rollback needs a reason: pass --reason "..."')
        record = self.registry.get_version(model, version)
        if record.stage is Stage.PRODUCTION:
            return next(t for t in reversed(self.history(actor, model)) if t.version == version)

        def write(session: Session) -> TransitionRecord:
            served = session.scalar(
                sa.select(StageTransition.id).where(
                    StageTransition.model == model,
                    StageTransition.version == version,
                    StageTransition.to_stage == Stage.PRODUCTION.value,
                )
            )
            if served is None:
                raise GovernanceInputError(
                    f"{record.ref} has never been in production, so there is nothing to roll back to; "
                    f"promote it through the gates instead (`cxops models promote {model} {version} "
                    "--to production`), or pick a former production version (`cxops models history "
                    f"{model}`)"
                )
            row = session.scalar(
                sa.select(ModelVersion).where(ModelVersion.model == model, ModelVersion.version == version)
            )
            assert row is not None
            current = _production_row(session, model)
            if current is not None:
                self._move(
                    session,
                    current,
                    self.policy.replaced_production_goes_to,
                    actor,
                    role,
                    f"rolled back to {record.ref}: {reason}",
                )
            return self._move(session, row, Stage.PRODUCTION, actor, role, reason, action="stage.rolled_back")

        return self.registry.write(write, f"rolling {model!r} back to {record.ref}")

    def _move(
        self,
        session: Session,
        row: ModelVersion,
        target: Stage,
        actor: Actor,
        role: str,
        reason: str,
        *,
        gates: list[dict[str, Any]] | None = None,
        approvals: list[dict[str, Any]] | None = None,
        override: bool = False,
        action: str | None = None,
    ) -> TransitionRecord:
        transition = StageTransition(
            model=row.model,
            version=row.version,
            from_stage=row.stage,
            to_stage=target.value,
            actor=actor.name,
            role=role,
            reason=reason,
            gates=gates or [],
            approvals=approvals or [],
            override=override,
            created_at=self.clock(),
        )
        row.stage = target.value
        session.add(transition)
        session.flush()
        resolved: list[int] = []
        if target == Stage.ARCHIVED:
            # An archived version serves no one: its retraining after an erasure is no longer owed.
            resolved = list(
                session.scalars(
                    sa.update(RetrainingFlag)
                    .where(
                        RetrainingFlag.model == row.model,
                        RetrainingFlag.version == row.version,
                        RetrainingFlag.resolved_at.is_(None),
                    )
                    .values(resolved_at=transition.created_at)
                    .returning(RetrainingFlag.id)
                )
            )
        failed = [g for g in gates or [] if not g["passed"]]
        append_event(
            session,
            actor=actor.name,
            role=role,
            action=action or ("stage.overridden" if override and failed else "stage.changed"),
            reason=reason,
            model=row.model,
            version=row.version,
            payload={
                "transition_id": transition.id,
                "from": transition.from_stage,
                "to": transition.to_stage,
                "gates_passed": sum(1 for g in gates or [] if g["passed"]),
                "gates_failed": failed,
                "approvals": [a["id"] for a in approvals or []],
                **({"resolved_retraining_flags": resolved} if resolved else {}),
            },
        )
        return TransitionRecord.of(transition)

    def approve(
        self, actor: Actor, model: str, version: int, to: Stage | str = Stage.PRODUCTION, *, comment: str = ""
    ) -> ApprovalRecord:
        """Sign off a version's move to a stage. The author of a version may not approve it."""
        role = self.authorize(actor, "models.approve")
        record = self.registry.get_version(model, version)
        target = self._target(record, to)
        if role not in self.policy.approval.roles:
            raise GovernanceInputError(
                f"role '{role}' approvals do not count; approvers need one of: "
                f"{', '.join(self.policy.approval.roles)} (policies/promotion.yaml)"
            )
        if actor.name == record.created_by:
            raise PermissionDeniedError(
                f"{actor.name} registered {record.ref} and may not approve it (separation of duties); "
                "ask another approver"
            )
        now = self.clock()

        def write(session: Session) -> ApprovalRecord:
            row = Approval(
                model=model,
                version=version,
                target_stage=target.value,
                approver=actor.name,
                role=role,
                comment=comment,
                created_at=now,
                expires_at=now + timedelta(hours=self.policy.approval.ttl_hours),
            )
            session.add(row)
            session.flush()
            append_event(
                session,
                actor=actor.name,
                role=role,
                action="approval.granted",
                reason=comment,
                model=model,
                version=version,
                payload={"approval_id": row.id, "to": target.value, "expires_at": row.expires_at},
            )
            return ApprovalRecord.of(row)

        return self.registry.write(write, f"approving {record.ref}")

    def history(self, actor: Actor, model: str) -> list[TransitionRecord]:
        """Every stage change of the model's versions, oldest first."""
        self.authorize(actor, "models.read")
        self.registry.list_versions(model)  # a clear 404 for an unknown model
        with self.registry.reading() as session:
            rows = session.scalars(
                sa.select(StageTransition).where(StageTransition.model == model).order_by(StageTransition.id)
            ).all()
            return [TransitionRecord.of(row) for row in rows]

    def approvals(self, actor: Actor, model: str, version: int | None = None) -> list[ApprovalRecord]:
        self.authorize(actor, "models.read")
        with self.registry.reading() as session:
            query = sa.select(Approval).where(Approval.model == model).order_by(Approval.id)
            if version is not None:
                query = query.where(Approval.version == version)
            return [ApprovalRecord.of(row) for row in session.scalars(query)]

    # Audit log ---------------------------------------------------------------------------------------------

    def audit_log(self, actor: Actor, /, **filters: Any) -> list[AuditRecord]:
        self.authorize(actor, "audit.read")
        return self.registry.audit_events(**filters)

    def verify_audit(self, actor: Actor) -> AuditVerification:
        self.authorize(actor, "audit.verify")
        return self.registry.verify_audit()
