"""Alembic environment of the CXOps metadata store.

`cxops.registry.migrate()` hands over an open connection (already inside a locked transaction) through
`config.attributes["connection"]`. The `alembic` command line works too: pass the URL with
`-x url=postgresql://...` (or set `sqlalchemy.url`); `--sql` renders the DDL for a DBA to apply.
"""

from __future__ import annotations

from alembic import context

from cxops.registry._engine import create_engine, normalise_url
from cxops.registry._schema import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: pass -x url=... or set sqlalchemy.url")
    return normalise_url(url)


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(_url())
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
