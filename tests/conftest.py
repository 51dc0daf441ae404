"""Shared fixtures: databases, so that one test body runs against every metadata-store backend.

`database_url` is parametrized over SQLite (a file in tmp_path) and PostgreSQL (a fresh database on
127.0.0.1:5432, dropped afterwards). PostgreSQL cases carry the `integration` marker. When the server is
down it is started; a server that still cannot be reached fails the test rather than skipping it.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
import redis
from psycopg import sql

# The drift monitor's tests run in its own environment (`make test` calls them with .venv-monitor).
collect_ignore = ["drift"]

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USERS = ("postgres", "root")
PG_START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
PG_START_TIMEOUT_S = 20.0
REDIS_URL = "redis://127.0.0.1:6379/0"
REDIS_START = (
    "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no "
    "--dir /var/lib/redis --logfile /var/log/redis/ci.log"
)


def _pg_connect(user: str, dbname: str = "postgres") -> psycopg.Connection:
    return psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=user, dbname=dbname, autocommit=True, connect_timeout=3
    )


def _pg_user() -> tuple[str | None, list[str]]:
    """The first user that can connect to the server, and the errors of those that could not."""
    errors = []
    for user in PG_USERS:
        try:
            with _pg_connect(user):
                return user, errors
        except psycopg.OperationalError as error:
            errors.append(f"{user}: {str(error).strip()}")
    return None, errors


@pytest.fixture(scope="session")
def postgres_user() -> str:
    """A user of the local PostgreSQL server, starting the server first if it is down."""
    user, errors = _pg_user()
    if user is not None:
        return user
    started = subprocess.run(PG_START, shell=True, capture_output=True, text=True)
    deadline = time.monotonic() + PG_START_TIMEOUT_S
    while time.monotonic() < deadline:
        user, errors = _pg_user()
        if user is not None:
            return user
        time.sleep(0.5)
    pytest.fail(
        f"PostgreSQL on {PG_HOST}:{PG_PORT} is unreachable after `{PG_START}` "
        f"(exit {started.returncode}: {started.stderr.strip() or started.stdout.strip()}); "
        f"connection errors: {'; '.join(errors)}"
    )


class _PostgresDatabases:
    """Creates uniquely named databases one ahead, in the background, while a test runs: CREATE DATABASE takes
    ~0.3 s here, which would otherwise dominate the PostgreSQL half of the suite. (Dropping in the background
    too was slower: concurrent drops and creates contend for the disk.)"""

    def __init__(self, user: str) -> None:
        self.user = user
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-databases")
        self._next: Future[str] | None = None

    def _create(self) -> str:
        name = f"cxops_test_{uuid.uuid4().hex[:12]}"
        with _pg_connect(self.user) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def drop(self, name: str) -> None:
        with _pg_connect(self.user) as admin:
            # Connections a test left open (a pool not disposed) would block the drop.
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))

    def take(self) -> str:
        ready = self._next or self._executor.submit(self._create)
        self._next = self._executor.submit(self._create)
        return ready.result()

    def close(self) -> None:
        if self._next is not None:
            self.drop(self._next.result())
        self._executor.shutdown()


@pytest.fixture(scope="session")
def _postgres_databases(postgres_user: str) -> Iterator[_PostgresDatabases]:
    databases = _PostgresDatabases(postgres_user)
    yield databases
    databases.close()


@pytest.fixture
def postgresql_url(_postgres_databases: _PostgresDatabases) -> Iterator[str]:
    """SQLAlchemy URL of a new, empty PostgreSQL database that is dropped after the test."""
    name = _postgres_databases.take()
    try:
        yield f"postgresql+psycopg://{_postgres_databases.user}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        _postgres_databases.drop(name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """SQLAlchemy URL of a new SQLite file in the test's temporary directory."""
    return f"sqlite:///{tmp_path / 'cxops.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def database_url(request: pytest.FixtureRequest) -> str:
    """A new, empty metadata database on each backend in turn."""
    return request.getfixturevalue(f"{request.param}_url")


def _redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping())
    except redis.exceptions.ConnectionError:
        return False


@pytest.fixture(scope="session")
def redis_server() -> str:
    """The local Redis, started when down; a server that cannot be reached fails the test."""
    if not _redis_up():
        subprocess.run(REDIS_START, shell=True, check=False, capture_output=True)
        deadline = time.monotonic() + 10
        while not _redis_up() and time.monotonic() < deadline:
            time.sleep(0.2)
    if not _redis_up():
        pytest.fail(f"Redis at {REDIS_URL} is unreachable and could not be started with: {REDIS_START}")
    return REDIS_URL
