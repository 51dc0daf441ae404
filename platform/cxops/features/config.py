"""The Feast configuration of a CXOps installation, built from `Settings` (no feature_store.yaml needed).

Every store lives under `<home>/feast/`: the file registry, the SQLite online store and, below `data/`,
the parquet files the repository's relative source paths point at. With `online_store="redis"` the
online store is the Redis server of `redis_url`, namespaced by `feast_project`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from cxops.config import Settings
from cxops.errors import InvalidInputError

if TYPE_CHECKING:
    from feast.repo_config import RepoConfig

__all__ = ["REGISTRY_CACHE_TTL_S", "redis_connection_string", "repo_config"]

REGISTRY_CACHE_TTL_S = 60
"""A long-lived reader (serving) sees a newly applied definition within a minute."""
_PROJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]*$")


def redis_connection_string(url: str) -> str:
    """`redis://[user:password@]host[:port][/db]` -> Feast's `host:port,db=N[,username=..][,password=..]`."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise InvalidInputError(
            f"redis_url '{parts.scheme}://…' is not a Redis URL; "
            "set CXOPS_REDIS_URL like redis://127.0.0.1:6379/0"
        )
    host = parts.hostname or "127.0.0.1"
    if ":" in host:
        raise InvalidInputError(
            "redis_url: Feast's Redis connection string cannot hold an IPv6 address; "
            "use a host name or an IPv4 address in CXOPS_REDIS_URL"
        )
    db = parts.path.strip("/") or "0"
    if not db.isdigit():
        raise InvalidInputError(f"redis_url: database '{db}' is not a number; use e.g. redis://host:6379/0")
    items = [f"{host}:{parts.port or 6379}", f"db={int(db)}"]
    for name, value in (("username", parts.username), ("password", parts.password)):
        if value:
            value = unquote(value)
            if "," in value or "=" in value:
                # Feast splits its connection string on ',' and '=': such a value cannot be passed through.
                raise InvalidInputError(
                    f"redis_url: the {name} contains ',' or '=', which Feast's Redis "
                    "connection string cannot carry; choose one without them"
                )
            items.append(f"{name}={value}")
    if parts.scheme == "rediss":
        items.append("ssl=true")
    return ",".join(items)


def repo_config(settings: Settings) -> RepoConfig:
    """Feast's `RepoConfig` for these settings; `repo_path` is the Feast dir of the CXOps home."""
    from feast.repo_config import RepoConfig

    if not _PROJECT.match(settings.feast_project):
        raise InvalidInputError(
            f"feast_project '{settings.feast_project}' is not a valid Feast project "
            "name; set CXOPS_FEAST_PROJECT to letters, digits and underscores"
        )
    feast_dir = settings.feast_dir
    if settings.online_store == "redis":
        online: dict = {"type": "redis", "connection_string": redis_connection_string(settings.redis_url)}
    else:
        online = {"type": "sqlite", "path": str(feast_dir / "online_store.db")}
    return RepoConfig(
        project=settings.feast_project,
        provider="local",
        registry={
            "registry_type": "file",
            "path": str(feast_dir / "registry.db"),
            "cache_ttl_seconds": REGISTRY_CACHE_TTL_S,
        },
        online_store=online,
        offline_store={"type": "file"},
        entity_key_serialization_version=3,
        repo_path=feast_dir,
    )
