"""The hash-chained audit log: appends, filters, and tampering found by verification, on both backends."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from cxops.registry import GENESIS_HASH, Registry
from cxops.registry._engine import create_engine


def _append(registry: Registry, n: int, **fields: object) -> None:
    for i in range(n):
        registry.record_event(
            actor=str(fields.get("actor", "maya")),
            role="ml-engineer",
            action=str(fields.get("action", "stage.changed")),
            model=str(fields.get("model", "churn")),
            version=i + 1,
            reason=f"step {i}",
            payload={"i": i, "score": 0.1 * i},
        )


def _execute(url: str, statement: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(statement))
    finally:
        engine.dispose()


def test_events_chain_from_the_genesis_hash(registry: Registry) -> None:
    _append(registry, 3)
    events = sorted(registry.audit_events(), key=lambda e: e.seq)
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash == GENESIS_HASH
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    assert events[2].payload == {"i": 2, "score": 0.1 * 2}
    result = registry.verify_audit()
    assert result.ok and result.events == 3 and result.head == events[-1].hash


def test_registration_is_audited(registry: Registry, register) -> None:
    record = register("churn", created_by="maya")
    [event] = registry.audit_events(action="model.")
    assert (event.action, event.actor, event.model, event.version) == ("model.registered", "maya", "churn", 1)
    assert event.payload["metrics"] == record.metrics


def test_filters(registry: Registry) -> None:
    _append(registry, 2, model="churn", actor="maya")
    _append(registry, 2, model="intent", actor="dana", action="approval.granted")
    assert {e.model for e in registry.audit_events(model="intent")} == {"intent"}
    assert {e.actor for e in registry.audit_events(actor="maya")} == {"maya"}
    assert len(registry.audit_events(action="approval")) == 2
    assert [e.seq for e in registry.audit_events(limit=2)] == [4, 3]
    newest = registry.audit_events(limit=1)[0]
    assert registry.audit_events(since=newest.created_at)[0].seq == newest.seq


def test_an_edited_event_is_found(registry: Registry, database_url: str) -> None:
    _append(registry, 4)
    _execute(database_url, "UPDATE audit_events SET reason = 'nothing to see' WHERE seq = 2")
    result = registry.verify_audit()
    assert not result.ok and result.first_broken == 2 and "edited" in result.problem
    assert result.events == 1


def test_an_edited_payload_is_found(registry: Registry, database_url: str) -> None:
    _append(registry, 3)
    _execute(database_url, "UPDATE audit_events SET payload = '{\"i\": 9}' WHERE seq = 3")
    assert registry.verify_audit().first_broken == 3


def test_a_deleted_event_is_found(registry: Registry, database_url: str) -> None:
    _append(registry, 4)
    _execute(database_url, "DELETE FROM audit_events WHERE seq = 2")
    result = registry.verify_audit()
    assert not result.ok and result.first_broken == 2 and "deleted" in result.problem


def test_reordered_events_are_found(registry: Registry, database_url: str) -> None:
    _append(registry, 4)
    # Swap events 2 and 3 (through a free number, as the sequence is the primary key).
    for statement in (
        "UPDATE audit_events SET seq = 100 WHERE seq = 2",
        "UPDATE audit_events SET seq = 2 WHERE seq = 3",
        "UPDATE audit_events SET seq = 3 WHERE seq = 100",
    ):
        _execute(database_url, statement)
    result = registry.verify_audit()
    assert not result.ok and result.first_broken == 2


def test_a_rewritten_chain_with_a_recomputed_link_still_breaks_at_the_next_event(
    registry: Registry, database_url: str
) -> None:
    """Editing one event and fixing its own hash breaks the next event's link instead."""
    _append(registry, 3)
    [second] = [e for e in registry.audit_events() if e.seq == 2]
    _execute(database_url, f"UPDATE audit_events SET hash = '{'f' * 64}' WHERE seq = 2")
    result = registry.verify_audit()
    assert result.first_broken == 2
    assert second.hash != "f" * 64


def test_concurrent_appends_keep_one_unbroken_chain(registry: Registry) -> None:
    writers, per_writer = 6, 5
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            barrier.wait()
            _append(registry, per_writer, actor=f"writer-{i}")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    result = registry.verify_audit()
    assert result.ok and result.events == writers * per_writer
