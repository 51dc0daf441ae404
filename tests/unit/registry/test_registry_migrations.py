"""The schema comes from the Alembic migrations shipped in the package; applying them is idempotent."""

from __future__ import annotations

import io
import threading
from argparse import Namespace

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from cxops.registry import Registry, current_revision, head_revision, migrate
from cxops.registry._engine import create_engine
from cxops.registry._migrate import MIGRATIONS_DIR, alembic_config
from cxops.registry._schema import Base

TABLES = {"alembic_version", "datasets", "validations", "model_versions"}


def test_migrations_ship_inside_the_package() -> None:
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert (MIGRATIONS_DIR / "versions" / "0001_initial.py").is_file()
    assert (MIGRATIONS_DIR / "versions" / "0002_governance.py").is_file()
    assert (MIGRATIONS_DIR / "versions" / "0003_canaries.py").is_file()
    assert head_revision() == "0004"


def test_migrate_creates_the_schema(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        assert current_revision(engine) is None
        migrate(database_url)
        assert current_revision(engine) == head_revision()
        inspector = sa.inspect(engine)
        assert set(inspector.get_table_names()) >= TABLES
        unique = {tuple(c["column_names"]) for c in inspector.get_unique_constraints("model_versions")}
        assert ("model", "version") in unique
    finally:
        engine.dispose()


def test_migrated_schema_matches_the_orm_models(database_url: str) -> None:
    migrate(database_url)
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_migrations_are_idempotent_and_keep_data(database_url: str) -> None:
    migrate(database_url)
    with Registry(database_url) as registry:
        registry.record_dataset("churn", "abc123", "file:///d.parquet", 10, "synthetic")
    migrate(database_url)
    with Registry(database_url) as reopened:
        assert reopened.get_dataset("churn", "abc123").rows == 10
        assert current_revision(reopened.engine) == head_revision()


def test_concurrent_first_opens_migrate_once(database_url: str) -> None:
    """Several openers of a fresh database at once: all succeed and the schema is created once."""
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def open_registry() -> None:
        try:
            barrier.wait()
            Registry(database_url).close()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=open_registry) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            assert connection.scalar(sa.text("SELECT count(*) FROM alembic_version")) == 1
    finally:
        engine.dispose()


def test_alembic_command_line_takes_a_url(database_url: str) -> None:
    """`alembic -x url=...` upgrades a database without the registry (what an operator would run)."""
    config = alembic_config()
    config.cmd_opts = Namespace(x=[f"url={database_url}"])
    command.upgrade(config, "head")
    engine = create_engine(database_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_offline_mode_renders_postgresql_ddl() -> None:
    """`alembic upgrade head --sql` gives a DBA the DDL to review, with JSONB and timestamptz columns."""
    buffer = io.StringIO()
    config = alembic_config()
    config.output_buffer = buffer
    config.cmd_opts = Namespace(x=["url=postgresql://dba@db.example/cxops"])
    command.upgrade(config, "head", sql=True)
    ddl = buffer.getvalue()
    assert "CREATE TABLE model_versions" in ddl
    assert "metrics JSONB NOT NULL" in ddl
    assert "created_at TIMESTAMP WITH TIME ZONE NOT NULL" in ddl
    assert "INSERT INTO alembic_version (version_num) VALUES ('0001')" in ddl
