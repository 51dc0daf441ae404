"""The online feature lookup a churn request makes, per request, with each online store Feast offers
here, against a direct Redis `HGETALL` of the same customer's hash (the floor of any Redis lookup).

    sqlite_cxops / redis_cxops   `FeatureStoreClient.online_features` (what the model server calls:
                                 Feast's `get_online_features` on the feature service, typed for the model)
    sqlite_feast / redis_feast   Feast's `get_online_features(...).to_dict()` alone
    redis_hgetall                redis-py `HGETALL` of the hash Feast wrote for the customer

Sequential calls from this process, one customer each, cycling through the materialized customers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from cxops.features import FeatureStoreClient
from cxops.privacy import pseudonymise
from cxops.registry import Registry
from cxops.specs import load_spec

from .home import BenchHome

MODEL = "churn"


def _timed(call: Callable[[str], Any], keys: list[str], warmup: int = 50) -> dict[str, float]:
    for key in keys[:warmup]:
        call(key)
    seconds = []
    for key in keys:
        started = time.perf_counter()
        call(key)
        seconds.append(time.perf_counter() - started)
    ms = np.asarray(seconds) * 1000
    return {
        "calls": len(ms),
        "p50_ms": round(float(np.median(ms)), 3),
        "p95_ms": round(float(np.percentile(ms, 95)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
    }


def _redis_key(join_key: str, pid: str, project: str) -> bytes:
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    proto = EntityKey(join_keys=[join_key], entity_values=[Value(string_val=pid)])
    return serialize_entity_key(proto, entity_key_serialization_version=3) + project.encode()


def run(bench: BenchHome, progress, *, calls: int = 500) -> dict[str, Any]:
    import redis

    settings = bench.settings
    spec = load_spec(MODEL, settings)
    with Registry.from_settings(settings) as registry:
        record = registry.get_version(MODEL, bench.pipelines[MODEL]["version"])
        dataset = registry.get_dataset(MODEL, record.lineage["dataset_version"])
    ids = pd.read_parquet(dataset.uri)[spec.data.entity_key].drop_duplicates()
    key = settings.pseudonym_key_bytes()
    pids = [pseudonymise(cid, key) for cid in ids.sample(min(calls, len(ids)), random_state=3)]
    service = spec.features.feature_service
    join_key = spec.features.join_key
    results: dict[str, Any] = {}

    redis_settings = settings.model_copy(update={"online_store": "redis"})
    client = redis.Redis.from_url(redis_settings.redis_url)
    try:
        progress("  materializing churn's features into Redis")
        redis_store = FeatureStoreClient(redis_settings)
        redis_store.apply(spec)
        redis_store.materialize(datetime.now(UTC))
        for store_name, store in (("sqlite", FeatureStoreClient(settings)), ("redis", redis_store)):
            feature_service = store.store.get_feature_service(service)
            frame, unknown = store.online_features(spec, pids[:5])
            if unknown:
                raise RuntimeError(f"{store_name}: materialized customers are unknown: {unknown}")
            results[f"{store_name}_cxops"] = _timed(lambda pid, s=store: s.online_features(spec, [pid]), pids)
            results[f"{store_name}_feast"] = _timed(
                lambda pid, s=store, fs=feature_service: s.store.get_online_features(
                    features=fs, entity_rows=[{join_key: pid}]
                ).to_dict(),
                pids,
            )
        keys = {pid: _redis_key(join_key, pid, settings.feast_project) for pid in pids}
        if not client.hgetall(keys[pids[0]]):
            raise RuntimeError("the Redis hash of a materialized customer is missing; check the key layout")
        results["redis_hgetall"] = _timed(lambda pid: client.hgetall(keys[pid]), pids)
    finally:
        for stale in client.scan_iter(match=b"*" + settings.feast_project.encode(), count=1000):
            client.delete(stale)
        client.close()
    floor = results["redis_hgetall"]["p50_ms"]
    for name, row in results.items():
        row["p50_over_hgetall"] = round(row["p50_ms"] / floor, 1)
        progress(f"  {name:14s} p50 {row['p50_ms']:.3f} ms, p99 {row['p99_ms']:.3f} ms")
    return {"lookups": results, "setup": {"customers": len(pids), "client": "sequential, in-process"}}
