"""GDPR erasure (art. 17) and retention purges (art. 5(1)(e)) over every store of personal data.

    report = erase_subject(gov, gov.actor("dana"), "7590-VHVEG", reason="request #4411")

An erasure pseudonymises the customer's id and forgets the raw id at once: every store is searched by
pseudonym (`cxops.governance.erasure`). Model versions trained on a snapshot that held the customer are
flagged for retraining by the policy's deadline (`policies/retention.yaml`), and the flags and one
`gdpr.erased` audit entry commit in one transaction. The audit entry names the pseudonym, never the id.

Failure leaves a state that the same request, run again, completes: each store changes atomically, and the
snapshots (which tell which versions to flag) change last. Only if the metadata store fails after every
store has changed are the flags lost; the error then names the versions to flag.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from cxops.config import Settings
from cxops.errors import CXOpsError
from cxops.governance._file_targets import local_path
from cxops.governance.erasure import ErasureTarget, TrainingDataTarget, erasure_targets
from cxops.governance.errors import GovernanceError, GovernanceInputError
from cxops.governance.identity import Actor
from cxops.governance.retention import load_retention_policy
from cxops.governance.service import Governance
from cxops.privacy import pseudonymise
from cxops.registry import Stage
from cxops.registry._audit import append_event
from cxops.registry._schema import Dataset, ModelVersion, RetrainingFlag

__all__ = [
    "ErasureReport",
    "FlaggedVersion",
    "PurgeReport",
    "RetrainingFlagRecord",
    "erase_subject",
    "purge_expired",
    "retraining_flags",
]


@dataclass(frozen=True)
class FlaggedVersion:
    """A version trained on the erased customer's rows, to be retrained by `due_by`."""

    model: str
    version: int
    stage: str
    dataset_version: str
    due_by: datetime
    new: bool
    """False when an open flag (an earlier erasure) already held the version to an earlier deadline."""

    @property
    def ref(self) -> str:
        return f"{self.model} v{self.version}"


@dataclass(frozen=True)
class ErasureReport:
    subject: str
    """The customer's pseudonym: what the stores and the audit log know them by."""
    counts: dict[str, int]
    """Target -> rows removed."""
    datasets: dict[str, int]
    """`model/dataset version` -> rows removed from that training snapshot."""
    flagged: list[FlaggedVersion]
    audit_seq: int

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"total": self.total}


@dataclass(frozen=True)
class PurgeReport:
    now: datetime
    counts: dict[str, int]
    """Target -> rows removed (or, on a dry run, that would be)."""
    cutoffs: dict[str, datetime]
    """Target -> rows with an event time before this expire (feature views may have their own)."""
    periods: dict[str, str]
    dry_run: bool
    audit_seq: int | None
    """None on a dry run: nothing changed, nothing is recorded."""

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"total": self.total}


@dataclass(frozen=True)
class RetrainingFlagRecord:
    id: int
    model: str
    version: int
    reason: str
    due_by: datetime
    audit_seq: int | None
    created_at: datetime
    resolved_at: datetime | None

    @classmethod
    def of(cls, row: RetrainingFlag) -> RetrainingFlagRecord:
        return cls(
            row.id,
            row.model,
            row.version,
            row.reason,
            row.due_by,
            row.audit_seq,
            row.created_at,
            row.resolved_at,
        )

    def overdue(self, now: datetime) -> bool:
        return self.resolved_at is None and self.due_by < now

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _targets(gov: Governance, targets: Sequence[ErasureTarget] | None) -> list[ErasureTarget]:
    if targets is None:
        return erasure_targets(gov.settings, gov.registry)
    return sorted(targets, key=lambda t: isinstance(t, TrainingDataTarget))


def _run(target: ErasureTarget, done: list[str], action: str, call: Any) -> int:
    try:
        return int(call())
    except Exception as exc:
        finished = ", ".join(done) or "none"
        raise GovernanceError(
            f"{action} in '{target.name}' failed: {exc}. Targets finished before it: {finished}; it and the "
            "rest are unchanged and nothing was recorded. Fix the store and run the same command again "
            "(it is idempotent)",
            status_code=exc.status_code if isinstance(exc, CXOpsError) else 500,
        ) from exc


def _sync_dataset_rows(session: Session, only: set[tuple[str, str]] | None = None) -> None:
    """Keep each snapshot's recorded row count equal to what its file now holds."""
    for row in session.scalars(sa.select(Dataset)):
        if only is not None and (row.model, row.version) not in only:
            continue
        path = local_path(row.uri)
        if path is not None and path.is_file():
            rows = pq.read_metadata(path).num_rows
            if rows != row.rows:
                row.rows = rows


def _pseudonym_key(settings: Settings) -> bytes:
    """The key the stores were written with. A key generated now would pseudonymise the customer to a value
    no store holds, and the erasure would silently remove nothing."""
    if settings.pseudonym_key is None and not (settings.home_dir / "pseudonym.key").is_file():
        raise GovernanceError(
            f"no pseudonym key: CXOPS_PSEUDONYM_KEY is unset and {settings.home_dir / 'pseudonym.key'} does "
            "not exist, so nothing here was pseudonymised with the key an erasure would use; set "
            "CXOPS_PSEUDONYM_KEY (or CXOPS_HOME) to those of the pipelines that wrote the features",
            status_code=409,
        )
    return settings.pseudonym_key_bytes()


def erase_subject(
    gov: Governance,
    actor: Actor,
    customer_id: str,
    *,
    reason: str,
    targets: Sequence[ErasureTarget] | None = None,
) -> ErasureReport:
    """Remove one customer from every store, flag the versions trained on their rows, record it.

    An unknown customer is not an error: the request was handled, every count is 0, and it is recorded."""
    role = gov.authorize(actor, "gdpr.erase")
    if not reason or not reason.strip():
        raise GovernanceInputError(
            'an erasure needs a reason, such as the request reference: pass --reason "..."'
        )
    if not isinstance(customer_id, str) or not customer_id:
        raise GovernanceInputError("an erasure needs the customer's id: pass --customer-id")
    policy = load_retention_policy(gov.settings)
    pid = pseudonymise(customer_id, _pseudonym_key(gov.settings))
    chosen = _targets(gov, targets)

    held: dict[tuple[str, str], int] = {}
    for target in chosen:
        if isinstance(target, TrainingDataTarget):
            for dataset, rows in target.holders([pid]).items():
                held[dataset] = held.get(dataset, 0) + rows
    counts: dict[str, int] = {}
    for target in chosen:
        counts[target.name] = _run(target, list(counts), "erasure", lambda t=target: t.erase([pid]))

    now = gov.clock()
    due = policy.retrain_by(now)

    def record(session: Session) -> tuple[list[FlaggedVersion], int]:
        versions: list[ModelVersion] = []
        if held:
            versions = list(
                session.scalars(
                    sa.select(ModelVersion)
                    .where(
                        ModelVersion.stage != Stage.ARCHIVED.value,
                        sa.or_(
                            *(
                                sa.and_(ModelVersion.model == m, ModelVersion.dataset_version == v)
                                for m, v in held
                            )
                        ),
                    )
                    .order_by(ModelVersion.model, ModelVersion.version)
                )
            )
        earlier: dict[tuple[str, int], datetime] = {}
        if versions:
            for flag in session.scalars(
                sa.select(RetrainingFlag).where(
                    RetrainingFlag.resolved_at.is_(None),
                    sa.or_(
                        *(
                            sa.and_(RetrainingFlag.model == v.model, RetrainingFlag.version == v.version)
                            for v in versions
                        )
                    ),
                )
            ):
                key = (flag.model, flag.version)
                earlier[key] = min(earlier.get(key, flag.due_by), flag.due_by)
        flagged = [
            FlaggedVersion(
                v.model,
                v.version,
                v.stage,
                str(v.dataset_version),
                earlier.get((v.model, v.version), due),
                (v.model, v.version) not in earlier,
            )
            for v in versions
        ]
        event = append_event(
            session,
            actor=actor.name,
            role=role,
            action="gdpr.erased",
            reason=reason,
            payload={
                "subject": pid,
                "counts": counts,
                "datasets": {f"{m}/{v}": n for (m, v), n in sorted(held.items())},
                "flagged": [
                    {"model": f.model, "version": f.version, "due_by": f.due_by, "new": f.new}
                    for f in flagged
                ],
            },
        )
        for f in flagged:
            if f.new:
                session.add(
                    RetrainingFlag(
                        model=f.model,
                        version=f.version,
                        reason=(
                            f"trained on dataset {f.dataset_version}, which held a customer erased on request"
                            f" (audit event {event.seq}): {reason}"
                        ),
                        due_by=due,
                        audit_seq=event.seq,
                        created_at=now,
                    )
                )
        _sync_dataset_rows(session, set(held))
        session.flush()
        return flagged, event.seq

    try:
        flagged, seq = gov.registry.write(record, "recording an erasure")
    except (CXOpsError, SQLAlchemyError) as exc:
        raise _unrecorded(exc, counts, held, due) from exc
    return ErasureReport(
        subject=pid,
        counts=counts,
        datasets={f"{m}/{v}": n for (m, v), n in sorted(held.items())},
        flagged=flagged,
        audit_seq=seq,
    )


def _unrecorded(
    error: Exception, counts: dict[str, int], held: dict[tuple[str, str], int], due: datetime
) -> GovernanceError:
    datasets = ", ".join(f"{m}/{v}" for m, v in sorted(held)) or "none"
    return GovernanceError(
        f"the customer's rows were removed ({counts}) but the erasure could not be recorded in the "
        f"metadata store: {error}. Every active version trained on datasets {datasets} must be retrained "
        f"by {due:%Y-%m-%d}; once the store answers, run the erasure again to record it",
        status_code=503,
    )


def purge_expired(
    gov: Governance,
    actor: Actor,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    targets: Sequence[ErasureTarget] | None = None,
) -> PurgeReport:
    """Remove the rows of every store that are past its retention period; idempotent, so it can run on a
    schedule. A dry run counts what would go and changes (and records) nothing."""
    role = gov.authorize(actor, "gdpr.purge")
    policy = load_retention_policy(gov.settings)
    moment = now or gov.clock()
    if moment.tzinfo is None:
        raise GovernanceInputError(f"purge time {moment} has no time zone; pass an aware datetime (UTC)")
    chosen = _targets(gov, targets)
    cutoffs = {
        t.name: policy.cutoff(t.store, moment) for t in chosen
    }  # a missing period fails before any change
    counts: dict[str, int] = {}
    for target in chosen:
        cutoff = cutoffs[target.name]
        counts[target.name] = _run(
            target, list(counts), "purge", lambda t=target, c=cutoff: t.purge(c, dry_run=dry_run)
        )
    report = dict(
        now=moment,
        counts=counts,
        cutoffs={name: c.before for name, c in cutoffs.items()},
        periods={name: c.period for name, c in cutoffs.items()},
        dry_run=dry_run,
    )
    if dry_run:
        return PurgeReport(**report, audit_seq=None)

    def record(session: Session) -> int:
        event = append_event(
            session,
            actor=actor.name,
            role=role,
            action="gdpr.purged",
            reason=f"retention policy {policy.version}",
            payload={
                "now": moment,
                "counts": counts,
                "cutoffs": report["cutoffs"],
                "views": {name: p and str(p) for name, p in policy.views.items()},
            },
        )
        if any(counts[t.name] for t in chosen if isinstance(t, TrainingDataTarget)):
            _sync_dataset_rows(session)
        return event.seq

    return PurgeReport(**report, audit_seq=gov.registry.write(record, "recording a retention purge"))


def retraining_flags(
    gov: Governance, actor: Actor, model: str | None = None, *, include_resolved: bool = False
) -> list[RetrainingFlagRecord]:
    """Open retraining flags (all with `include_resolved`), soonest deadline first."""
    gov.authorize(actor, "models.read")
    query = sa.select(RetrainingFlag).order_by(RetrainingFlag.due_by, RetrainingFlag.id)
    if model is not None:
        query = query.where(RetrainingFlag.model == model)
    if not include_resolved:
        query = query.where(RetrainingFlag.resolved_at.is_(None))
    with gov.registry.reading() as session:
        return [RetrainingFlagRecord.of(row) for row in session.scalars(query)]
