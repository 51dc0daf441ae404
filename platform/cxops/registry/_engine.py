"""Engines for the metadata store: URL normalisation and the SQLite settings that make it safe to share."""

from __future__ import annotations

import random
import sqlite3
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import StaticPool

__all__ = ["WRITE_OPTIONS", "create_engine", "normalise_url"]

# Execution options for transactions that write. On SQLite they begin with BEGIN IMMEDIATE, which takes the
# write lock up front: a read-then-write transaction can otherwise fail with "database is locked" when another
# writer commits in between (busy_timeout does not help there). Other backends ignore the option.
WRITE_OPTIONS: dict[str, Any] = {"cxops_sqlite_begin": "BEGIN IMMEDIATE"}


def normalise_url(url: str | URL) -> str:
    """`postgres://` and `postgresql://` use psycopg 3 (the driver we ship), not psycopg2."""
    if isinstance(url, str) and url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or "mode=memory" in str(url)


def _enable_wal(cursor: Any, attempts: int = 100) -> None:
    """Switch a file database to WAL, waiting out other connections.

    The switch needs an exclusive lock, and SQLite answers "database is locked" at once, without its busy
    handler, while another process holds the fresh file open; the mode persists, so it is set once per file.
    """
    for attempt in range(attempts):
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() in ("wal", "memory"):
                return
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(0.05 + random.random() * 0.1)


def create_engine(url: str | URL, **kwargs: Any) -> Engine:
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True, **kwargs)

    connect_args = {"check_same_thread": False, "timeout": 30, **kwargs.pop("connect_args", {})}
    if _is_memory(parsed):
        # One shared connection, or each pooled connection would see its own empty database.
        kwargs.setdefault("poolclass", StaticPool)
    engine = sa.create_engine(parsed, connect_args=connect_args, **kwargs)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself: the sqlite3 module's legacy mode starts no transaction for SELECT
        # or DDL, which breaks transactional migrations and repeatable reads.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            _enable_wal(cursor)
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql(connection.get_execution_options().get("cxops_sqlite_begin", "BEGIN"))

    return engine
