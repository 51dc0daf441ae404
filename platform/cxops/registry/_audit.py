"""The append-only, hash-chained audit log.

Each event's hash covers its own fields and the previous event's hash, so editing, deleting or reordering
any stored event breaks every link after it. Events are appended inside the transaction of the change they
record: a change and its audit entry commit together or not at all. A unique constraint on `prev_hash`
refuses a second successor of the same event, so concurrent writers cannot fork the chain (the loser's
transaction is retried by the caller).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cxops.registry._jsonable import to_json
from cxops.registry._schema import AuditEvent, utcnow

__all__ = ["GENESIS_HASH", "AuditRecord", "AuditVerification", "append_event", "query_events", "verify_chain"]

GENESIS_HASH = "0" * 64
"""The `prev_hash` of the first event."""

# Namespace of the PostgreSQL advisory lock that lets appenders take turns.
_PG_AUDIT_LOCK = int.from_bytes(b"CXOpsAud", "big")


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    created_at: datetime
    actor: str
    role: str
    action: str
    """Dotted verb, e.g. `model.registered`, `stage.changed`, `approval.granted`, `gdpr.erased`."""
    model: str | None
    version: int | None
    reason: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AuditVerification:
    ok: bool
    events: int
    """How many events were checked."""
    head: str
    """Hash of the last event (keep it elsewhere to detect truncation of the tail)."""
    first_broken: int | None = None
    """Sequence number of the first event whose link does not hold."""
    problem: str = ""


def _canonical(payload: Mapping[str, Any]) -> str:
    return json.dumps(to_json(dict(payload), "audit payload"), sort_keys=True, separators=(",", ":"))


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def event_hash(row: AuditEvent) -> str:
    """The hash of an event: its own fields and the previous event's hash."""
    fields = [
        row.seq,
        _timestamp(row.created_at),
        row.actor,
        row.role,
        row.action,
        row.model,
        row.version,
        row.reason,
        row.payload,
        row.prev_hash,
    ]
    return hashlib.sha256(json.dumps(fields, separators=(",", ":")).encode()).hexdigest()


def append_event(
    session: Session,
    *,
    actor: str,
    role: str,
    action: str,
    reason: str = "",
    model: str | None = None,
    version: int | None = None,
    payload: Mapping[str, Any] | None = None,
) -> AuditRecord:
    """Append one event in the caller's (write) transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_AUDIT_LOCK})
    last = session.execute(
        sa.select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    )
    previous = last.first()
    seq, prev_hash = (previous[0] + 1, previous[1]) if previous else (1, GENESIS_HASH)
    # Microseconds only: what the databases keep, so the hash can be recomputed from what is read back.
    created_at = utcnow()
    row = AuditEvent(
        seq=seq,
        created_at=created_at,
        actor=actor,
        role=role,
        action=action,
        model=model,
        version=version,
        reason=reason,
        payload=_canonical(payload or {}),
        prev_hash=prev_hash,
    )
    row.hash = event_hash(row)
    session.add(row)
    session.flush()
    return _record(row)


def verify_chain(session: Session, batch: int = 5000) -> AuditVerification:
    """Recompute every link, oldest first; name the first event that was edited, removed or moved."""
    expected_prev, expected_seq, checked = GENESIS_HASH, 1, 0
    query = sa.select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=batch)
    for row in session.scalars(query):
        if row.seq != expected_seq:
            return AuditVerification(
                False,
                checked,
                expected_prev,
                expected_seq,
                f"event {expected_seq} is missing (the next stored event is {row.seq}): events were deleted",
            )
        if row.prev_hash != expected_prev:
            return AuditVerification(
                False,
                checked,
                expected_prev,
                row.seq,
                f"event {row.seq} does not follow event {row.seq - 1}: its previous-hash link is "
                f"{row.prev_hash[:12]}…, expected {expected_prev[:12]}… (events were removed or reordered)",
            )
        if event_hash(row) != row.hash:
            return AuditVerification(
                False,
                checked,
                expected_prev,
                row.seq,
                f"event {row.seq} ({row.action} by {row.actor}) was edited: its content no longer matches "
                "its hash",
            )
        expected_prev, expected_seq, checked = row.hash, row.seq + 1, checked + 1
    return AuditVerification(True, checked, expected_prev)


def query_events(
    session: Session,
    *,
    model: str | None = None,
    version: int | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[AuditRecord]:
    """Newest first. `action` matches a prefix: `stage` finds `stage.changed` and `stage.overridden`."""
    query = sa.select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)
    if model is not None:
        query = query.where(AuditEvent.model == model)
    if version is not None:
        query = query.where(AuditEvent.version == version)
    if actor is not None:
        query = query.where(AuditEvent.actor == actor)
    if action is not None:
        query = query.where(AuditEvent.action.startswith(action, autoescape=True))
    if since is not None:
        query = query.where(AuditEvent.created_at >= since)
    if until is not None:
        query = query.where(AuditEvent.created_at < until)
    return [_record(row) for row in session.scalars(query)]


def _record(row: AuditEvent) -> AuditRecord:
    return AuditRecord(
        seq=row.seq,
        created_at=row.created_at,
        actor=row.actor,
        role=row.role,
        action=row.action,
        model=row.model,
        version=row.version,
        reason=row.reason,
        payload=json.loads(row.payload),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )
