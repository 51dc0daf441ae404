"""Schema migrations, applied in code: opening the registry brings its database to the newest revision."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from cxops.registry._engine import WRITE_OPTIONS, create_engine

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic is imported where it is used: importing the registry (say, for a CLI's --help) need not load it.

__all__ = ["MIGRATIONS_DIR", "alembic_config", "current_revision", "head_revision", "migrate", "upgrade"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Key of the PostgreSQL advisory lock that serialises concurrent upgrades ("CXOpsReg" as 8 bytes).
_PG_LOCK_KEY = int.from_bytes(b"CXOpsReg", "big")

# Alembic keeps the running migration context in module globals (`alembic.context`, `alembic.op`), so two
# upgrades in one process must not overlap even on different databases.
_PROCESS_LOCK = threading.Lock()


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic config built in code (no alembic.ini), pointing at the migrations in this package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, f"no migrations found in {MIGRATIONS_DIR}"
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade in one transaction that holds a lock, so that processes opening the store at once take turns
    (PostgreSQL: a transaction-level advisory lock; SQLite: BEGIN IMMEDIATE takes the write lock). The one
    that waited then finds the schema current and does nothing."""
    from alembic import command

    with _PROCESS_LOCK, engine.execution_options(**WRITE_OPTIONS).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        command.upgrade(alembic_config(connection), revision)


def migrate(url: str | URL, revision: str = "head") -> None:
    """Bring the metadata store at `url` to `revision` (default: the newest). Idempotent."""
    engine = create_engine(url)
    try:
        upgrade(engine, revision)
    finally:
        engine.dispose()
