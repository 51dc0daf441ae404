"""Canary releases as records: start, move, promote, roll back and shadow a candidate version, under the SRE's
permission (`deployments.manage`), each change audited as a `deployment.*` event that lineage shows.

A canary starts from a version in `staging` against the model's `production` version; finishing it promotes
the candidate through governance (every production gate, the approval included), and rolling it back leaves
production untouched. At most one canary per model is active, which the database enforces. Each change is
also handed to the traffic backend (`cxops.canary.traffic`): the local gateway reads the records itself,
KServe is patched in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cxops.canary.errors import CanaryConflictError, CanaryInvalidError, CanaryNotFoundError
from cxops.canary.traffic import TrafficBackend, traffic_backend
from cxops.governance.identity import Actor
from cxops.governance.records import TransitionRecord
from cxops.governance.service import Governance
from cxops.registry import Stage
from cxops.registry._audit import append_event
from cxops.registry._jsonable import to_json
from cxops.registry._schema import Canary

__all__ = ["ACTIVE", "CONTROLLER", "DEFAULT_STEPS", "CanaryRecord", "CanaryService"]

CONTROLLER = "canary-controller"
"""The user the platform acts as when it moves a canary by itself (an SRE in policies/roles.yaml)."""

DEFAULT_STEPS = (5.0, 25.0, 50.0, 100.0)
ACTIVE = ("running", "paused")
"""States of a canary that still routes traffic."""

Status = Literal["running", "paused", "promoted", "rolled_back"]


@dataclass(frozen=True)
class CanaryRecord:
    id: int
    model: str
    candidate_version: int
    stable_version: int
    mode: str
    """`split` (a share of live traffic) or `shadow` (copies only; users always get stable)."""
    status: str
    percent: float
    steps: list[float]
    step: int
    """Index in `steps` of the current step."""
    interval_s: int
    auto: bool
    started_by: str
    started_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    evidence: list[dict[str, Any]]
    """One analysis per decided window, oldest first (see `cxops.canary.analysis.Analysis.to_dict`)."""
    outcome: str

    @property
    def deployment_id(self) -> str:
        """How audit events, lineage and the gateway's sticky routing name this release."""
        return f"{self.model}-canary-{self.id}"

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @classmethod
    def of(cls, row: Canary) -> CanaryRecord:
        return cls(
            row.id,
            row.model,
            row.candidate_version,
            row.stable_version,
            row.mode,
            row.status,
            row.percent,
            list(row.steps),
            row.step,
            row.interval_s,
            row.auto,
            row.started_by,
            row.started_at,
            row.updated_at,
            row.ended_at,
            list(row.evidence),
            row.outcome,
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "deployment_id": self.deployment_id}


def _check_steps(steps: Sequence[float]) -> list[float]:
    values = [float(s) for s in steps]
    if not values or any(not 0 < s <= 100 for s in values) or values != sorted(set(values)):
        raise CanaryInvalidError(
            f"canary steps {list(steps)} must rise strictly within (0, 100], e.g. 5,25,50,100"
        )
    if values[-1] != 100:
        values.append(100.0)
    return values


def _check_percent(percent: float) -> float:
    if not 0 <= percent <= 100:
        raise CanaryInvalidError(f"a canary percentage is between 0 and 100, got {percent}")
    return float(percent)


class CanaryService:
    """Canary releases kept in the metadata store, beside the versions they move."""

    def __init__(self, gov: Governance, traffic: TrafficBackend | None = None) -> None:
        self.gov = gov
        self.traffic = traffic or traffic_backend(gov.settings)

    def controller(self) -> Actor:
        """The platform itself, as it moves, rolls back and promotes canaries (an SRE in the roles policy)."""
        return Actor(CONTROLLER, tuple(self.gov.roles.roles_of(CONTROLLER)))

    # Reads --------------------------------------------------------------------------------------------------

    def active(self, model: str) -> CanaryRecord | None:
        with self.gov.registry.reading() as session:
            row = session.scalar(sa.select(Canary).where(Canary.model == model, Canary.status.in_(ACTIVE)))
            return None if row is None else CanaryRecord.of(row)

    def status(self, actor: Actor, model: str | None = None) -> list[CanaryRecord]:
        """The active canaries (of one model, or all), oldest first."""
        self.gov.authorize(actor, "models.read")
        with self.gov.registry.reading() as session:
            query = sa.select(Canary).where(Canary.status.in_(ACTIVE)).order_by(Canary.id)
            if model is not None:
                query = query.where(Canary.model == model)
            return [CanaryRecord.of(row) for row in session.scalars(query)]

    def history(self, actor: Actor, model: str) -> list[CanaryRecord]:
        """Every canary of a model, active or ended, oldest first."""
        self.gov.authorize(actor, "models.read")
        with self.gov.registry.reading() as session:
            rows = session.scalars(sa.select(Canary).where(Canary.model == model).order_by(Canary.id))
            return [CanaryRecord.of(row) for row in rows]

    # Changes ------------------------------------------------------------------------------------------------

    def start(
        self,
        actor: Actor,
        model: str,
        version: int,
        *,
        steps: Sequence[float] = DEFAULT_STEPS,
        interval_s: int = 600,
        auto: bool = False,
        shadow: bool = False,
        shadow_percent: float = 100.0,
    ) -> CanaryRecord:
        """Start a canary of `model:version` (in staging) against the production version.

        A split canary sends the first step's share of traffic to the candidate; a shadow canary sends
        copies of `shadow_percent` % of requests and never answers users from the candidate."""
        role = self.gov.authorize(actor, "deployments.manage")
        planned = _check_steps(steps)
        if interval_s < 1:
            raise CanaryInvalidError(f"a canary step lasts at least 1 s, got interval {interval_s}")
        candidate = self.gov.registry.get_version(model, version)
        if candidate.stage is not Stage.STAGING:
            raise CanaryConflictError(
                f"{candidate.ref} is in {candidate.stage}; a canary starts from a version in staging "
                f"(`cxops models promote {model} {version} --to staging`)"
            )
        stable = self.gov.production_version(model)
        if stable is None:
            raise CanaryConflictError(
                f"model {model!r} has no production version to compare {candidate.ref} with; promote it to "
                "production directly (`cxops models promote ... --to production`)"
            )
        percent = _check_percent(shadow_percent) if shadow else planned[0]
        mode = "shadow" if shadow else "split"
        now = self.gov.clock()

        def write(session: Session) -> CanaryRecord:
            if session.scalar(sa.select(Canary.id).where(Canary.model == model, Canary.status.in_(ACTIVE))):
                raise CanaryConflictError(
                    f"model {model!r} already has a canary in progress; promote or roll it back first "
                    f"(`cxops canary status {model}`)"
                )
            row = Canary(
                model=model,
                candidate_version=version,
                stable_version=stable.version,
                mode=mode,
                status="running",
                percent=percent,
                steps=planned,
                step=0,
                interval_s=interval_s,
                auto=auto,
                started_by=actor.name,
                started_at=now,
                updated_at=now,
                evidence=[],
                outcome="",
            )
            session.add(row)
            session.flush()
            record = CanaryRecord.of(row)
            self._audit(session, actor, role, "deployment.canary_started", record, reason="")
            self.traffic.started(record, candidate)
            return record

        return self.gov.registry.write(write, f"starting a canary of {candidate.ref}")

    def set_percent(self, actor: Actor, model: str, percent: float, *, reason: str = "") -> CanaryRecord:
        """Move the candidate's share of a split canary by hand (an automated canary keeps its plan)."""
        role = self.gov.authorize(actor, "deployments.manage")
        value = _check_percent(percent)

        def change(row: Canary) -> None:
            if row.mode != "split":
                raise CanaryConflictError(
                    f"the canary of {model!r} is a shadow: it answers no one; roll it back and start a split "
                    "canary to send traffic"
                )
            row.percent = value
            # The plan's next step is the first one above the new share.
            row.step = next((i for i, s in enumerate(row.steps) if s >= value), len(row.steps) - 1)

        return self._change(
            actor, role, model, change, "deployment.traffic_set", reason, apply=self.traffic.moved
        )

    def record_analysis(
        self,
        model: str,
        analysis: dict[str, Any],
        *,
        advance_to: float | None = None,
        replace_last: bool = False,
    ) -> CanaryRecord:
        """Keep one window's analysis as evidence (in place of the last one with `replace_last`);
        `advance_to` moves an automated canary to its next step."""
        analysis = to_json(analysis, "canary evidence")

        def change(row: Canary) -> None:
            kept = row.evidence[:-1] if replace_last else row.evidence
            row.evidence = [*kept, analysis]
            if advance_to is not None:
                row.percent = advance_to
                row.step = min(row.step + 1, len(row.steps) - 1)

        controller = self.controller()
        return self._change(
            controller,
            controller.roles[0] if controller.roles else "",
            model,
            change,
            "deployment.analysed",
            "",
            audit=advance_to is not None,
            apply=self.traffic.moved if advance_to is not None else None,
        )

    def rollback(
        self, actor: Actor, model: str, *, reason: str, evidence: dict[str, Any] | None = None
    ) -> CanaryRecord:
        """Send every request back to the stable version and end the canary; production is untouched."""
        role = self.gov.authorize(actor, "deployments.manage")
        if not reason.strip():
            raise CanaryInvalidError('a rollback needs a reason: pass --reason "..."')
        evidence = None if evidence is None else to_json(evidence, "canary evidence")

        def change(row: Canary) -> None:
            row.percent = 0.0
            row.status = "rolled_back"
            row.ended_at = self.gov.clock()
            row.outcome = reason
            if evidence is not None:
                row.evidence = [*row.evidence, evidence]

        return self._change(
            actor, role, model, change, "deployment.rolled_back", reason, apply=self.traffic.rolled_back
        )

    def promote(
        self, actor: Actor, model: str, *, reason: str, override: bool = False
    ) -> tuple[CanaryRecord, TransitionRecord]:
        """Finish a canary: the candidate goes to production through every production gate (the approval
        included), then takes all traffic. A failing gate leaves the canary as it was; an admin may
        override, as for any promotion."""
        self.gov.authorize(actor, "deployments.manage")
        current = self.active(model)
        if current is None:
            raise CanaryNotFoundError(f"model {model!r} has no canary in progress (`cxops canary status`)")
        candidate = self.gov.registry.get_version(model, current.candidate_version)
        if candidate.stage is Stage.PRODUCTION:
            # An earlier attempt reached production but not the serving platform: finish that one.
            transition = next(
                t
                for t in reversed(self.gov.history(actor, model))
                if t.version == candidate.version and t.to_stage == Stage.PRODUCTION.value
            )
        else:
            transition = self.gov.promote(
                actor,
                model,
                current.candidate_version,
                Stage.PRODUCTION,
                reason=f"canary {current.deployment_id}: {reason}",
                override=override,
            )

        def change(row: Canary) -> None:
            row.percent = 100.0
            row.status = "promoted"
            row.ended_at = self.gov.clock()
            row.outcome = reason

        record = self._change(
            actor, transition.role, model, change, "deployment.promoted", reason, apply=self.traffic.promoted
        )
        return record, transition

    def roll_back_to(
        self, actor: Actor, model: str, version: int, *, reason: str
    ) -> tuple[CanaryRecord | None, TransitionRecord | None]:
        """`cxops rollback MODEL --to-version N`: end the canary in progress, if any, and make `N` (a former
        production version) production again with all the traffic. Returns the ended canary and the stage
        change; either is None when there was nothing of that kind to do."""
        self.gov.authorize(actor, "deployments.manage")
        production = self.gov.production_version(model)
        restore = production is None or production.version != version
        if restore and not any(
            t.version == version and t.to_stage == Stage.PRODUCTION.value
            for t in self.gov.history(actor, model)
        ):
            # Checked before the canary ends, so that a wrong number changes nothing.
            raise CanaryInvalidError(
                f"{model}:{version} has never been in production, so it cannot be rolled back to; "
                f"former production versions are in `cxops models history {model}`"
            )
        ended = self.rollback(actor, model, reason=reason) if self.active(model) else None
        if not restore:
            if ended is None:
                raise CanaryConflictError(
                    f"{model}:{version} is in production already and no canary is in progress: nothing to "
                    "roll back"
                )
            return ended, None
        transition = self.gov.restore_production(actor, model, version, reason=reason)
        self.traffic.pinned(model, self.gov.registry.get_version(model, version))
        return ended, transition

    # Internals ----------------------------------------------------------------------------------------------

    def _change(
        self,
        actor: Actor,
        role: str,
        model: str,
        change: Callable[[Canary], None],
        action: str,
        reason: str,
        *,
        audit: bool = True,
        apply: Callable[[CanaryRecord], None] | None = None,
    ) -> CanaryRecord:
        def write(session: Session) -> CanaryRecord:
            row = session.scalar(sa.select(Canary).where(Canary.model == model, Canary.status.in_(ACTIVE)))
            if row is None:
                raise CanaryNotFoundError(
                    f"model {model!r} has no canary in progress; start one with `cxops canary start {model} "
                    "--version N`"
                )
            change(row)
            row.updated_at = self.gov.clock()
            session.flush()
            record = CanaryRecord.of(row)
            if audit:
                self._audit(session, actor, role, action, record, reason)
            if apply is not None:
                apply(record)  # last: a refusal by the serving platform leaves the record unchanged
            return record

        return self.gov.registry.write(write, f"changing the canary of {model!r}")

    def _audit(
        self, session: Session, actor: Actor, role: str, action: str, record: CanaryRecord, reason: str
    ) -> None:
        append_event(
            session,
            actor=actor.name,
            role=role,
            action=action,
            reason=reason,
            model=record.model,
            version=record.candidate_version,
            payload={
                "deployment_id": record.deployment_id,
                "mode": record.mode,
                "status": record.status,
                "percent": record.percent,
                "stable_version": record.stable_version,
                "candidate_version": record.candidate_version,
                "steps": record.steps,
                "evidence": record.evidence[-1]
                if record.evidence and action != "deployment.canary_started"
                else None,
            },
        )
