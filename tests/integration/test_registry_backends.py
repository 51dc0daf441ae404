"""The registry on real backends under concurrency: threads sharing a registry, processes opening one
database at once, and what each backend stores (SQLite pragmas; PostgreSQL JSONB and timestamptz)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import defaultdict
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from cxops.registry import ModelVersionRecord, Registry, RegistryError
from cxops.registry._engine import create_engine, normalise_url

pytestmark = pytest.mark.integration

VALUES = dict(metrics={"roc_auc": 0.8}, artifacts={}, params={}, lineage={}, owner="o", team="t")

# Each process reports when its imports are done and waits for "go" on stdin, so that the first opens really
# overlap however long the imports take on a busy machine.
PROCESS_SCRIPT = """
import json, sys
from cxops.registry import Registry
url, worker = sys.argv[1], sys.argv[2]
print("ready", flush=True)
sys.stdin.readline()
with Registry(url) as registry:
    versions = [
        registry.register_version(
            "churn", metrics={}, artifacts={}, params={}, lineage={}, owner="o", team="t",
            created_by=worker, dataset_version=None,
        ).version
        for _ in range(3)
    ]
print(json.dumps(versions))
"""


def test_threads_registering_at_once_get_distinct_consecutive_versions(database_url: str) -> None:
    writers = {"churn": 6, "intent": 2}
    per_writer = 4
    barrier = threading.Barrier(sum(writers.values()))
    results: dict[str, list[ModelVersionRecord]] = defaultdict(list)
    errors: list[BaseException] = []

    with Registry(database_url) as registry:

        def write(model: str, writer: int) -> None:
            try:
                barrier.wait()
                for _ in range(per_writer):
                    record = registry.register_version(
                        model, created_by=f"writer-{writer}", dataset_version=None, **VALUES
                    )
                    results[model].append(record)
            except BaseException as error:
                errors.append(error)

        threads = [
            threading.Thread(target=write, args=(model, i)) for model, n in writers.items() for i in range(n)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert errors == []
        for model, n in writers.items():
            expected = list(range(1, n * per_writer + 1))
            assert sorted(r.version for r in results[model]) == expected
            stored = registry.list_versions(model)
            assert [v.version for v in stored] == expected
            # Each stored version is the one its writer was told it got.
            assert {(v.version, v.created_by) for v in stored} == {
                (r.version, r.created_by) for r in results[model]
            }


def test_processes_opening_a_fresh_database_at_once(database_url: str) -> None:
    """Two processes migrate the same empty database and register at the same moment."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", PROCESS_SCRIPT, database_url, f"process-{i}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    try:
        for process in processes:
            assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        outputs = [process.communicate(timeout=60) for process in processes]
    finally:
        for process in processes:
            process.kill()
    for process, (_, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr
    versions = sorted(v for stdout, _ in outputs for v in json.loads(stdout))
    assert versions == list(range(1, 7))
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            assert connection.scalar(sa.text("SELECT count(*) FROM alembic_version")) == 1
    finally:
        engine.dispose()


def test_foreign_keys_are_enforced_by_the_database(database_url: str) -> None:
    """A validation of an unrecorded dataset is refused by the database itself, not only by the service."""
    Registry(database_url).close()
    engine = create_engine(database_url)
    try:
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO validations (model, dataset_version, suite, success, statistics, created_at)"
                    " VALUES ('churn', 'missing', 's', true, '{}', CURRENT_TIMESTAMP)"
                )
            )
    finally:
        engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_runs_in_wal_mode_with_foreign_keys(database_url: str) -> None:
    with Registry(database_url) as registry, registry.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_stores_jsonb_and_timestamptz(database_url: str) -> None:
    with Registry(database_url) as registry:
        record = registry.register_version(
            "churn",
            created_by="c",
            dataset_version=None,
            **{**VALUES, "metrics": {"by_segment": {"gender": 0.1}}},
        )
        with registry.engine.connect() as connection:
            types = dict(
                connection.execute(
                    sa.text(
                        "SELECT column_name, data_type FROM information_schema.columns"
                        " WHERE table_name = 'model_versions'"
                    )
                ).all()
            )
            # JSONB is queryable in SQL: the nested metric is reachable with the -> operators.
            nested = connection.scalar(
                sa.text("SELECT metrics -> 'by_segment' ->> 'gender' FROM model_versions")
            )
            server_now = connection.scalar(sa.text("SELECT now()"))
    assert types["metrics"] == types["lineage"] == "jsonb"
    assert types["created_at"] == "timestamp with time zone"
    assert nested == "0.1"
    assert abs(server_now - record.created_at) < timedelta(minutes=1)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_plain_postgresql_urls_use_psycopg_3(database_url: str) -> None:
    plain = database_url.replace("postgresql+psycopg://", "postgresql://")
    assert normalise_url(plain) == database_url
    assert normalise_url(plain.replace("postgresql://", "postgres://")) == database_url
    with Registry(plain) as registry:
        assert registry.engine.dialect.driver == "psycopg"
        assert registry.list_models() == []


def test_a_missing_postgresql_database_is_named_in_the_error(postgres_user: str) -> None:
    url = f"postgresql://{postgres_user}:secret@127.0.0.1:5432/cxops_no_such_database"
    with pytest.raises(RegistryError, match="cannot open the metadata store at postgresql") as caught:
        Registry(url)
    assert "cxops_no_such_database" in str(caught.value) and "secret" not in str(caught.value)
    assert caught.value.status_code == 503
