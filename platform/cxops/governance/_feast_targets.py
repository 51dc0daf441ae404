"""Erasure targets in Feast (0.47): the offline parquet sources and the online store, SQLite or Redis.

Feast has no API to delete one entity's rows (its teardown drops whole views, and on Redis misses keys
written with entity key serialization version 3), so the online targets delete the exact rows Feast
wrote, found the way Feast finds them:

- SQLite: one table per feature view, `<project>_<view>`, one row per (entity_key, feature_name), where
  entity_key is `serialize_entity_key(...)` of the view's join keys and event_ts the row's event time;
- Redis: one hash per entity key, at `serialize_entity_key(...) + project`, shared by every view with the
  same join keys; field `_ts:<view>` holds the view's event time and `mmh3("<view>:<feature>")` each value.

Every key found by a pattern is decoded back and compared before anything is deleted.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Collection, Iterator
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cxops.config import Settings
from cxops.governance._file_targets import _older
from cxops.governance._rewrite import rewrite_parquet
from cxops.governance.erasure import SUBJECT_KEY, ErasureTarget
from cxops.governance.errors import GovernanceError
from cxops.governance.retention import Cutoff

if TYPE_CHECKING:
    from feast import FeatureView

    from cxops.features import FeatureStoreClient

__all__ = ["FeastOfflineTarget", "RedisOnlineTarget", "SqliteOnlineTarget", "feast_targets"]

_TIMESTAMP = "event_timestamp"
_KEY_VERSION = 3
"""The entity key serialization CXOps configures (cxops.features.config); the layout read here."""


class _Feast:
    """One Feast client shared by the targets of one erasure or purge (created on first use)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def client(self) -> FeatureStoreClient:
        from cxops.features import FeatureStoreClient

        client = FeatureStoreClient(self.settings)
        version = client.config.entity_key_serialization_version
        if version != _KEY_VERSION:
            raise GovernanceError(
                f"feast project '{client.project}' serializes entity keys with version {version}; erasure "
                f"reads version {_KEY_VERSION} only (set in cxops.features.config)"
            )
        return client

    def online_views(self) -> list[FeatureView]:
        """Applied views keyed by the customer (the online store holds only applied views)."""
        return [v for v in self.client.store.list_feature_views() if SUBJECT_KEY in v.join_keys]


def _value(pid: str) -> bytes:
    """A string entity value as version 3 serializes it: type, length, UTF-8 bytes."""
    from feast.value_type import ValueType

    data = pid.encode("utf-8")
    return struct.pack("<II", ValueType.STRING.value, len(data)) + data


def _key_names(join_keys: list[str]) -> bytes:
    """The join-key part of a version 3 entity key: count, then each key name (sorted)."""
    from feast.value_type import ValueType

    names = [k.encode("utf-8") for k in sorted(join_keys)]
    return struct.pack("<I", len(names)) + b"".join(
        struct.pack("<II", ValueType.STRING.value, len(n)) + n for n in names
    )


def _subject_of(entity_key: bytes) -> str | None:
    """The customer pseudonym inside a serialized entity key, if it has one (None when not decodable)."""
    from feast.infra.key_encoding_utils import deserialize_entity_key

    try:
        proto = deserialize_entity_key(entity_key, _KEY_VERSION)
    except (ValueError, struct.error, UnicodeDecodeError):
        return None
    for name, value in zip(proto.join_keys, proto.entity_values, strict=False):
        if name == SUBJECT_KEY and value.WhichOneof("val") == "string_val":
            return value.string_val
    return None


def _serialized(join_keys: list[str], values: list[str]) -> bytes:
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    proto = EntityKey(join_keys=join_keys, entity_values=[Value(string_val=v) for v in values])
    return serialize_entity_key(proto, entity_key_serialization_version=_KEY_VERSION)


def _epoch_seconds(moment: datetime) -> int:
    """A cutoff the way Feast's SQLite adapter stores event times: the naive UTC time's `.timestamp()`."""
    return int(moment.astimezone(UTC).replace(tzinfo=None).timestamp())


# -- offline ---------------------------------------------------------------------------------------------


class FeastOfflineTarget(ErasureTarget):
    """The parquet source of every customer-keyed view: the repository's views, and any other parquet file
    under `<feast dir>/data/` with a customer_pid column (a view since removed from the repository)."""

    name = "feast_offline"
    store = "offline_features"

    def __init__(self, feast: _Feast) -> None:
        self.feast = feast

    def sources(self) -> dict[Path, tuple[str, str]]:
        """Source file -> (view name, event timestamp column)."""
        from cxops.features import load_definitions

        client = self.feast.client
        found: dict[Path, tuple[str, str]] = {}
        for view in load_definitions(self.feast.settings.feature_repo_dir).feature_views.values():
            if SUBJECT_KEY in view.join_keys:
                found[client.source_path(view).resolve()] = (view.name, view.batch_source.timestamp_field)
        data = self.feast.settings.feast_dir / "data"
        for path in sorted(data.glob("*.parquet")) if data.is_dir() else []:
            if path.resolve() not in found and SUBJECT_KEY in pq.read_schema(path).names:
                found[path.resolve()] = (path.stem, _TIMESTAMP)
        return found

    def erase(self, pids: Collection[str]) -> int:
        wanted = pa.array(sorted(set(pids)), type=pa.string())

        def subject(_: Path, table: pa.Table) -> np.ndarray:
            column = table.column(SUBJECT_KEY).cast(pa.string())
            return np.asarray(pc.is_in(column, value_set=wanted).fill_null(False))

        return sum(rewrite_parquet(self.sources(), subject).values())

    def purge(self, cutoff: Cutoff, *, dry_run: bool = False) -> int:
        sources = self.sources()

        def expired(path: Path, table: pa.Table) -> np.ndarray:
            view, column = sources[path]
            before = cutoff.for_view(view)
            if before is None or column not in table.column_names:
                return np.zeros(table.num_rows, dtype=bool)
            return _older(table.column(column).to_pandas(), before)

        return sum(rewrite_parquet(sources, expired, dry_run=dry_run).values())


# -- online: SQLite ----------------------------------------------------------------------------------------


class SqliteOnlineTarget(ErasureTarget):
    """Feast's embedded SQLite online store; all views change in one SQLite transaction."""

    name = "feast_online_sqlite"
    store = "online_features"

    def __init__(self, feast: _Feast) -> None:
        self.feast = feast

    def _tables(self, connection: sqlite3.Connection) -> Iterator[tuple[FeatureView, str]]:
        project = self.feast.client.project
        existing = {
            row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        for view in self.feast.online_views():
            table = f"{project}_{view.name}"
            if table in existing:
                yield view, table

    def _connect(self) -> sqlite3.Connection | None:
        path = Path(self.feast.client.config.online_store.path)
        if not path.is_absolute():
            path = self.feast.settings.feast_dir / path
        return sqlite3.connect(path, timeout=30) if path.is_file() else None

    def erase(self, pids: Collection[str]) -> int:
        connection = self._connect()
        if connection is None:
            return 0
        deleted = 0
        try:
            with connection:
                for view, table in self._tables(connection):
                    keys = self._keys(connection, view, table, set(pids))
                    connection.executemany(
                        f'DELETE FROM "{table}" WHERE entity_key = ?', [(k,) for k in keys]
                    )
                    deleted += len(keys)
        finally:
            connection.close()
        return deleted

    @staticmethod
    def _keys(connection: sqlite3.Connection, view: FeatureView, table: str, pids: set[str]) -> list[bytes]:
        """The stored entity keys of these customers in one view's table."""
        if list(view.join_keys) == [SUBJECT_KEY]:
            candidates = [_serialized([SUBJECT_KEY], [pid]) for pid in sorted(pids)]
            query = f'SELECT DISTINCT entity_key FROM "{table}" WHERE entity_key = ?'
        else:  # the offer ids paired with the customer are not known: find the customer's value inside
            candidates = [_value(pid) for pid in sorted(pids)]
            query = f'SELECT DISTINCT entity_key FROM "{table}" WHERE instr(entity_key, ?) > 0'
        found = {bytes(row[0]) for c in candidates for row in connection.execute(query, (c,))}
        return sorted(k for k in found if _subject_of(k) in pids)

    def purge(self, cutoff: Cutoff, *, dry_run: bool = False) -> int:
        connection = self._connect()
        if connection is None:
            return 0
        expired = 0
        try:
            with connection:
                for view, table in self._tables(connection):
                    before = cutoff.for_view(view.name)
                    if before is None:
                        continue
                    # Feast stores event times as epoch seconds (its adapter); older files may hold ISO text.
                    where = (
                        "(typeof(event_ts) IN ('integer', 'real') AND event_ts < ?) "
                        "OR (typeof(event_ts) = 'text' AND event_ts < ?)"
                    )
                    limit = (_epoch_seconds(before), before.astimezone(UTC).replace(tzinfo=None).isoformat())
                    keys = [
                        row[0]
                        for row in connection.execute(
                            f'SELECT DISTINCT entity_key FROM "{table}" WHERE {where}', limit
                        )
                    ]
                    expired += len(keys)
                    if not dry_run:
                        connection.executemany(
                            f'DELETE FROM "{table}" WHERE entity_key = ?', [(k,) for k in keys]
                        )
        finally:
            connection.close()
        return expired


# -- online: Redis -----------------------------------------------------------------------------------------


def _glob_escape(data: bytes) -> bytes:
    """Bytes matched literally by a Redis SCAN pattern."""
    out = bytearray()
    for byte in data:
        if byte in b"*?[]\\":
            out += b"\\"
        out.append(byte)
    return bytes(out)


class RedisOnlineTarget(ErasureTarget):
    """Feast's Redis online store: a customer's hash is deleted whole (every view in it is about them)."""

    name = "feast_online_redis"
    store = "online_features"

    def __init__(self, feast: _Feast) -> None:
        self.feast = feast

    @cached_property
    def redis(self) -> Any:
        import redis

        return redis.Redis.from_url(self.feast.settings.redis_url)

    @property
    def _suffix(self) -> bytes:
        return self.feast.client.project.encode("utf-8")

    def _key_sets(self) -> dict[tuple[str, ...], list[FeatureView]]:
        sets: dict[tuple[str, ...], list[FeatureView]] = {}
        for view in self.feast.online_views():
            sets.setdefault(tuple(sorted(view.join_keys)), []).append(view)
        return sets

    def _is_ours(self, key: bytes, join_keys: tuple[str, ...]) -> bool:
        """Whether `key` is an entity key of exactly these join keys in this project (not a longer project
        name that ends with ours)."""
        from feast.infra.key_encoding_utils import deserialize_entity_key, serialize_entity_key

        if not key.endswith(self._suffix):
            return False
        body = key[: -len(self._suffix)]
        try:
            proto = deserialize_entity_key(body, _KEY_VERSION)
            again = serialize_entity_key(proto, entity_key_serialization_version=_KEY_VERSION)
        except (ValueError, struct.error, UnicodeDecodeError):
            return False
        return again == body and tuple(sorted(proto.join_keys)) == join_keys

    def _subject_keys(self, join_keys: tuple[str, ...], pids: set[str]) -> list[bytes]:
        if join_keys == (SUBJECT_KEY,):
            keys = [_serialized([SUBJECT_KEY], [pid]) + self._suffix for pid in sorted(pids)]
            pipe = self.redis.pipeline(transaction=False)
            for key in keys:
                pipe.exists(key)
            return [k for k, there in zip(keys, pipe.execute(), strict=True) if there]
        found: list[bytes] = []
        position = sorted(join_keys).index(SUBJECT_KEY)
        for pid in sorted(pids):
            head = _glob_escape(_key_names(list(join_keys)))
            value = _glob_escape(_value(pid))
            middle = head + value if position == 0 else head + b"*" + value
            pattern = middle + b"*" + _glob_escape(self._suffix)
            for key in self.redis.scan_iter(match=pattern, count=1000):
                if self._is_ours(key, join_keys) and _subject_of(key[: -len(self._suffix)]) == pid:
                    found.append(key)
        return found

    @staticmethod
    def _views_in(fields: Collection[bytes]) -> list[str]:
        return [f[4:].decode("utf-8", "replace") for f in fields if f.startswith(b"_ts:")]

    def erase(self, pids: Collection[str]) -> int:
        wanted = set(pids)
        keys = [k for join_keys in self._key_sets() for k in self._subject_keys(join_keys, wanted)]
        if not keys:
            return 0
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.hkeys(key)
        rows = sum(len(self._views_in(fields)) for fields in pipe.execute())
        self.redis.delete(*keys)
        return rows

    def purge(self, cutoff: Cutoff, *, dry_run: bool = False) -> int:
        from feast.infra.online_stores.helpers import _mmh3
        from google.protobuf.timestamp_pb2 import Timestamp

        expired_rows = 0
        for join_keys, views in self._key_sets().items():
            features = {v.name: [_mmh3(f"{v.name}:{f.name}") for f in v.features] for v in views}
            pattern = _glob_escape(_key_names(list(join_keys))) + b"*" + _glob_escape(self._suffix)
            for key in self.redis.scan_iter(match=pattern, count=1000):
                if not self._is_ours(key, join_keys):
                    continue
                stamps = {f: v for f, v in self.redis.hgetall(key).items() if f.startswith(b"_ts:")}
                expired = []
                for field, raw in stamps.items():
                    view = field[4:].decode("utf-8", "replace")
                    before = cutoff.for_view(view)
                    stamp = Timestamp()
                    stamp.ParseFromString(raw)
                    if before is not None and stamp.seconds < int(before.timestamp()):
                        expired.append(view)
                expired_rows += len(expired)
                if dry_run or not expired:
                    continue
                if len(expired) == len(stamps):
                    self.redis.delete(key)
                else:
                    fields = [f"_ts:{v}".encode() for v in expired]
                    fields += [h for v in expired for h in features.get(v, [])]
                    self.redis.hdel(key, *fields)
        return expired_rows


def feast_targets(settings: Settings) -> list[ErasureTarget]:
    feast = _Feast(settings)
    online = RedisOnlineTarget(feast) if settings.online_store == "redis" else SqliteOnlineTarget(feast)
    return [FeastOfflineTarget(feast), online]
