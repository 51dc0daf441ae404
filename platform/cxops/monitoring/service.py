"""Alerts and the retraining runs they start, kept in the metadata store and audited.

Alerts come from the drift monitor (`receive_drift_result`, for the local loop and the webhook alike) and from
the scheduled performance check (`check_performance`, on late labels). Each is recorded once (a resent alert
is recognised by its source id), audited, and handed to the monitoring policy (`cxops.monitoring.decide`). A
retraining is a run of the same training pipeline with a trigger (`retrain:<run id>`) that the registered
version's lineage keeps: it lands as a `candidate` and goes through the normal gates. Nothing is promoted by
an alert.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cxops.governance.identity import Actor
from cxops.governance.service import Governance
from cxops.monitoring.decide import Decision, decide
from cxops.monitoring.errors import (
    MonitoringConflictError,
    MonitoringError,
    MonitoringInvalidError,
    MonitoringNotFoundError,
)
from cxops.monitoring.policy import MonitoringPolicy, load_monitoring_policy
from cxops.registry._audit import append_event
from cxops.registry._schema import ModelVersion, MonitoringAlert, RetrainRun

__all__ = ["DRIFT_SOURCE", "MONITOR_ACTOR", "AlertRecord", "MonitoringService", "RetrainRecord"]

MONITOR_ACTOR = "drift-monitor"
"""The user the drift monitor and the scheduled checks act as (role `monitor` in policies/roles.yaml)."""
DRIFT_SOURCE = "cxops-drift"
PERFORMANCE_SOURCE = "performance-check"
_RUNNING = ("starting", "running")
_AUDIT_ACTIONS = {
    "drift": "monitoring.drift_detected",
    "data_quality": "monitoring.data_quality_failed",
    "performance": "monitoring.performance_degraded",
}


@dataclass(frozen=True)
class AlertRecord:
    id: int
    model: str
    version: int | None
    kind: str
    source: str
    source_id: str
    summary: str
    details: dict[str, Any]
    action: str
    action_reason: str
    retrain_run_id: int | None
    created_at: datetime

    @classmethod
    def of(cls, row: MonitoringAlert) -> AlertRecord:
        return cls(
            row.id,
            row.model,
            row.version,
            row.kind,
            row.source,
            row.source_id,
            row.summary,
            dict(row.details),
            row.action,
            row.action_reason,
            row.retrain_run_id,
            row.created_at,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RetrainRecord:
    id: int
    model: str
    trigger: str
    backend: str
    external_id: str
    status: str
    version: int | None
    detail: str
    started_by: str
    started_at: datetime
    ended_at: datetime | None

    @property
    def pipeline_trigger(self) -> str:
        """What the registered version's lineage records as its trigger."""
        return f"retrain:{self.id}"

    @classmethod
    def of(cls, row: RetrainRun) -> RetrainRecord:
        return cls(
            row.id,
            row.model,
            row.trigger,
            row.backend,
            row.external_id,
            row.status,
            row.version,
            row.detail,
            row.started_by,
            row.started_at,
            row.ended_at,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _summary(kind: str, result: dict[str, Any]) -> str:
    window = result.get("window") or {}
    where = f"{result.get('model')}:{result.get('version')}"
    if kind == "data_quality":
        reasons = (result.get("quality") or {}).get("reasons") or []
        return f"data-quality failure on {where}: " + ("; ".join(reasons) or "inputs break the schema")
    drifted = result.get("drifted_features") or []
    shown = ", ".join(drifted[:8]) + (f" and {len(drifted) - 8} more" if len(drifted) > 8 else "")
    return f"drift on {where} over {window.get('rows', '?')} requests: {shown or 'no feature named'}"


def _version_of(value: Any) -> int | None:
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError) as exc:
        raise MonitoringInvalidError(f"alert names version {value!r}, which is not a version number") from exc


class MonitoringService:
    """Alerts, the monitoring policy's decisions, and retraining runs."""

    def __init__(
        self,
        gov: Governance,
        *,
        policy: MonitoringPolicy | None = None,
        launcher_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.gov = gov
        self.policy = policy or load_monitoring_policy(gov.settings)
        self._launcher_factory = launcher_factory
        self._launcher: Any = None

    def monitor(self) -> Actor:
        """The drift monitor itself, as it raises alerts (role `monitor`)."""
        return self.gov.actor(MONITOR_ACTOR)

    # Alerts -------------------------------------------------------------------------------------------------

    def receive_drift_result(self, actor: Actor, result: dict[str, Any]) -> AlertRecord | None:
        """Record a drift monitor's result when it is an alert (`drift` or `data_quality`); None otherwise."""
        self.gov.authorize(actor, "monitoring.alert")
        verdict = result.get("verdict")
        if verdict not in ("drift", "no_drift", "data_quality"):
            raise MonitoringInvalidError(
                f"drift result verdict {verdict!r} is unknown; expected drift, no_drift or data_quality"
            )
        for key in ("id", "model"):
            if not result.get(key):
                raise MonitoringInvalidError(
                    f"drift result lacks '{key}'; send the monitor's result as it is"
                )
        if verdict == "no_drift":
            return None
        drifted = len(result.get("drifted_features") or [])
        return self._alert(
            actor,
            kind=verdict,
            model=str(result["model"]),
            version=_version_of(result.get("version")),
            source=DRIFT_SOURCE,
            source_id=str(result["id"]),
            summary=_summary(verdict, result),
            details=result,
            drifted_features=drifted,
        )

    def check_performance(
        self, actor: Actor, model: str, *, now: datetime | None = None
    ) -> AlertRecord | None:
        """Alert when the production version's realised metric on late labels breaks the policy's limit."""
        from cxops.monitoring.outcomes import OutcomeService

        self.gov.authorize(actor, "monitoring.alert")
        limit = self.policy.for_model(model).performance
        production = self.gov.production_version(model)
        if limit is None or production is None:
            return None
        now = now or datetime.now(UTC)
        realised = OutcomeService(self.gov).performance(
            model, production.version, since=now - timedelta(days=limit.days)
        )
        value = None if realised is None else getattr(realised, limit.metric, None)
        if realised is None or value is None or realised.n < limit.min_outcomes or not limit.breached(value):
            return None
        return self._alert(
            actor,
            kind="performance",
            model=model,
            version=production.version,
            source=PERFORMANCE_SOURCE,
            source_id=f"{model}:{production.version}:{now:%Y-%m-%d}",
            summary=(
                f"{production.ref} realised {limit.metric} {value:.4f} on {realised.n} labelled predictions "
                f"of the last {limit.days} days breaks the policy's {limit.describe()}"
            ),
            details={
                "metric": limit.metric,
                "value": value,
                "limit": limit.model_dump(),
                **realised.to_dict(),
            },
        )

    def _alert(
        self,
        actor: Actor,
        *,
        kind: str,
        model: str,
        version: int | None,
        source: str,
        source_id: str,
        summary: str,
        details: dict[str, Any],
        drifted_features: int = 0,
    ) -> AlertRecord:
        role = self.gov.authorize(actor, "monitoring.alert")
        self.gov.registry.list_versions(model)  # a clear 404 for an unknown model
        policy = self.policy.for_model(model)

        def write(session: Session) -> tuple[AlertRecord, RetrainRecord | None, bool]:
            existing = session.scalar(
                sa.select(MonitoringAlert).where(
                    MonitoringAlert.source == source, MonitoringAlert.source_id == source_id
                )
            )
            if existing is not None:
                return AlertRecord.of(existing), None, False
            now = datetime.now(UTC)
            decision = decide(
                kind,  # type: ignore[arg-type]
                policy,
                drifted_features=drifted_features,
                consecutive=self._consecutive(session, model, version, details) if kind == "drift" else 1,
                running_retrain=session.scalar(
                    sa.select(RetrainRun.id).where(RetrainRun.model == model, RetrainRun.status.in_(_RUNNING))
                ),
                # A run that never started (its backend was down) does not hold the next one back.
                last_automatic_retrain=session.scalar(
                    sa.select(RetrainRun.started_at)
                    .where(
                        RetrainRun.model == model,
                        RetrainRun.trigger.like("alert:%"),
                        RetrainRun.external_id != "",
                    )
                    .order_by(RetrainRun.started_at.desc())
                    .limit(1)
                ),
                now=now,
            )
            row = MonitoringAlert(
                model=model,
                version=version,
                kind=kind,
                source=source,
                source_id=source_id,
                summary=summary,
                details=details,
                action=decision.action,
                action_reason=decision.reason,
                created_at=now,
            )
            session.add(row)
            session.flush()
            append_event(
                session,
                actor=actor.name,
                role=role,
                action=_AUDIT_ACTIONS[kind],
                reason=summary,
                model=model,
                version=version,
                payload={"alert_id": row.id, "action": decision.action, "action_reason": decision.reason},
            )
            run = None
            if decision.action == "retrain":
                run = self._new_run(session, actor, role, model, f"alert:{row.id}", decision)
                row.retrain_run_id = run.id
            return AlertRecord.of(row), run, True

        record, run, created = self.gov.registry.write(write, f"recording a {kind} alert of {model!r}")
        if created and run is not None:
            self._launch(run)
            record = self.alert(record.id)
        return record

    def _consecutive(self, session: Session, model: str, version: int | None, result: dict[str, Any]) -> int:
        """Drift windows in a row of this version, this one included (by the monitor's window index)."""
        index = (result.get("window") or {}).get("index")
        if not isinstance(index, int):
            return 1
        rows = session.scalars(
            sa.select(MonitoringAlert.details).where(
                MonitoringAlert.model == model,
                MonitoringAlert.version == version,
                MonitoringAlert.kind == "drift",
                MonitoringAlert.source == DRIFT_SOURCE,
            )
        ).all()
        earlier = {(d.get("window") or {}).get("index") for d in rows}
        count = 1
        while index - count in earlier:
            count += 1
        return count

    def alert(self, alert_id: int) -> AlertRecord:
        with self.gov.registry.reading() as session:
            row = session.get(MonitoringAlert, alert_id)
            if row is None:
                raise MonitoringNotFoundError(
                    f"there is no monitoring alert {alert_id}; see `cxops monitor alerts`"
                )
            return AlertRecord.of(row)

    def alerts(self, actor: Actor, model: str | None = None, *, limit: int = 50) -> list[AlertRecord]:
        """The latest alerts (of one model, or all), newest first."""
        self.gov.authorize(actor, "models.read")
        with self.gov.registry.reading() as session:
            query = sa.select(MonitoringAlert).order_by(MonitoringAlert.id.desc()).limit(limit)
            if model:
                query = query.where(MonitoringAlert.model == model)
            return [AlertRecord.of(row) for row in session.scalars(query)]

    # Retraining -------------------------------------------------------------------------------------------

    def retrain(self, actor: Actor, model: str, *, reason: str) -> RetrainRecord:
        """Start a retraining by hand (`monitoring.retrain`), outside the alert policy."""
        role = self.gov.authorize(actor, "monitoring.retrain")
        if not reason.strip():
            raise MonitoringInvalidError("say why the model is retrained by hand (--reason)")
        self.gov.registry.list_versions(model)

        def write(session: Session) -> RetrainRecord:
            running = session.scalar(
                sa.select(RetrainRun.id).where(RetrainRun.model == model, RetrainRun.status.in_(_RUNNING))
            )
            if running is not None:
                raise MonitoringConflictError(
                    f"retraining run {running} of {model!r} is still running; wait for it "
                    f"(`cxops monitor runs {model}`)"
                )
            return self._new_run(session, actor, role, model, f"manual:{reason.strip()}", None)

        run = self.gov.registry.write(write, f"starting a retraining of {model!r}")
        self._launch(run)
        return self.run(run.id)

    def _new_run(
        self, session: Session, actor: Actor, role: str, model: str, trigger: str, decision: Decision | None
    ) -> RetrainRecord:
        row = RetrainRun(
            model=model,
            trigger=trigger,
            backend=self.gov.settings.retrain_backend,
            external_id="",
            status="starting",
            detail="",
            started_by=actor.name,
            started_at=datetime.now(UTC),
        )
        session.add(row)
        session.flush()
        append_event(
            session,
            actor=actor.name,
            role=role,
            action="monitoring.retrain_started",
            reason=decision.reason if decision else trigger,
            model=model,
            payload={"retrain_run_id": row.id, "trigger": trigger, "backend": row.backend},
        )
        return RetrainRecord.of(row)

    def pipeline_parameters(self, run: RetrainRecord) -> dict[str, Any]:
        """The training pipeline's data arguments for `run` (fresh data by the policy); the model and the
        trigger travel apart."""
        source = self.policy.for_model(run.model).data
        data_path = str((self.gov.settings.root / source.path).resolve()) if source.path else ""
        # A generator stands for the latest data: a new seed per run draws a new sample.
        return {
            "data_path": data_path,
            "rows": source.rows,
            "seed": 1000 + run.id,
        }

    def _launch(self, run: RetrainRecord) -> None:
        try:
            launcher = self._get_launcher()
            launched = launcher.launch(
                run.model,
                trigger=run.pipeline_trigger,
                run_name=f"cxops-retrain-{run.model}-{run.id}",
                parameters=self.pipeline_parameters(run),
            )
        except Exception as exc:  # the alert stays recorded; the run says why it never started
            self.finish_run(run.id, status="failed", detail=f"could not start: {exc}")
            if isinstance(exc, MonitoringError):
                raise
            raise MonitoringError(f"retraining run {run.id} of {run.model!r} could not start: {exc}") from exc
        self._update(run.id, status="running", external_id=str(launched.external_id), detail=launched.detail)

    def _get_launcher(self) -> Any:
        if self._launcher is None:
            if self._launcher_factory is not None:
                self._launcher = self._launcher_factory()
            else:
                from cxops.monitoring.launchers import launcher

                self._launcher = launcher(self.gov.settings, local_command=_local_command)
        return self._launcher

    def _update(self, run_id: int, **values: Any) -> None:
        def write(session: Session) -> None:
            row = session.get(RetrainRun, run_id)
            if row is not None:
                for key, value in values.items():
                    setattr(row, key, value)

        self.gov.registry.write(write, f"updating retraining run {run_id}")

    def finish_run(
        self, run_id: int, *, status: str, version: int | None = None, detail: str = ""
    ) -> RetrainRecord:
        """Record how a run ended (its own process calls this, or `refresh_runs` finds its version)."""
        if status not in ("succeeded", "failed"):
            raise MonitoringInvalidError(f"a retraining run ends 'succeeded' or 'failed', not {status!r}")

        def write(session: Session) -> RetrainRecord:
            row = session.get(RetrainRun, run_id)
            if row is None:
                raise MonitoringNotFoundError(f"there is no retraining run {run_id}")
            if row.status in ("succeeded", "failed"):
                return RetrainRecord.of(row)
            row.status, row.version, row.ended_at = status, version, datetime.now(UTC)
            row.detail = detail or row.detail
            append_event(
                session,
                actor=row.started_by,
                role="system",
                action=f"monitoring.retrain_{status}",
                reason=detail,
                model=row.model,
                version=version,
                payload={"retrain_run_id": row.id, "trigger": row.trigger},
            )
            return RetrainRecord.of(row)

        return self.gov.registry.write(write, f"finishing retraining run {run_id}")

    def refresh_runs(self, model: str | None = None) -> list[RetrainRecord]:
        """Mark running runs whose version is registered (its lineage names the run) as succeeded."""
        finished = []
        for run in self.runs(None, model, running_only=True):
            with self.gov.registry.reading() as session:
                rows = session.scalars(
                    sa.select(ModelVersion).where(
                        ModelVersion.model == run.model, ModelVersion.created_at >= run.started_at
                    )
                ).all()
                version = next(
                    (r.version for r in rows if (r.lineage or {}).get("trigger") == run.pipeline_trigger),
                    None,
                )
            if version is not None:
                finished.append(self.finish_run(run.id, status="succeeded", version=version))
        return finished

    def run(self, run_id: int) -> RetrainRecord:
        with self.gov.registry.reading() as session:
            row = session.get(RetrainRun, run_id)
            if row is None:
                raise MonitoringNotFoundError(
                    f"there is no retraining run {run_id}; see `cxops monitor runs`"
                )
            return RetrainRecord.of(row)

    def runs(
        self, actor: Actor | None, model: str | None = None, *, running_only: bool = False, limit: int = 50
    ) -> list[RetrainRecord]:
        """Retraining runs (of one model, or all), newest first."""
        if actor is not None:
            self.gov.authorize(actor, "models.read")
        with self.gov.registry.reading() as session:
            query = sa.select(RetrainRun).order_by(RetrainRun.id.desc()).limit(limit)
            if model:
                query = query.where(RetrainRun.model == model)
            if running_only:
                query = query.where(RetrainRun.status.in_(_RUNNING))
            return [RetrainRecord.of(row) for row in session.scalars(query)]

    def watched_versions(self, model: str) -> list[int]:
        """Versions whose requests the drift monitor should watch: production, and a canary's candidate."""
        from cxops.canary.service import CanaryService

        versions = []
        production = self.gov.production_version(model)
        if production is not None:
            versions.append(production.version)
        canary = CanaryService(self.gov).active(model)
        if canary is not None and canary.candidate_version not in versions:
            versions.append(canary.candidate_version)
        return versions

    def drift_reference(self, model: str, version: int) -> Path:
        """The drift reference bundle registered with `model:version`."""
        record = self.gov.registry.get_version(model, version)
        path = record.artifacts.get("drift_reference")
        if not path or not Path(path).is_dir():
            raise MonitoringNotFoundError(
                f"{record.ref} has no drift reference (it was trained before drift monitoring, or its "
                "artifacts were removed); retrain it with `cxops pipeline run` to get one"
            )
        return Path(path)


def _local_command(model: str, *, trigger: str, run_name: str, parameters: Any) -> list[str]:
    """`cxops monitor retrain-run <id>`: the run's own process runs the pipeline and records how it ended."""
    import sys

    run_id = trigger.removeprefix("retrain:")
    return [str(Path(sys.executable).with_name("cxops")), "monitor", "retrain-run", run_id]
