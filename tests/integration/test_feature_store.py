"""The feature path end to end on real Feast stores: offline parquet, file registry, SQLite and Redis.

raw -> coerce -> derive_features -> pseudonymise -> write_offline -> apply -> materialize ->
point-in-time training frame -> online features.
"""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import redis

from cxops.config import Settings
from cxops.data.generators import telco_subscribers
from cxops.data.loaders import coerce
from cxops.features import FeatureStoreClient
from cxops.features._types import kind_of_column, typed
from cxops.privacy import pseudonymise_frame
from cxops.specs import load_model_code, load_spec

pytestmark = pytest.mark.integration

SAMPLE = ["tenure", "support_contacts_90d", "Contract", "MonthlyCharges", "num_services", "charge_trend"]


def _project() -> str:
    return f"cxops_test_{uuid.uuid4().hex[:10]}"


def _features(spec, settings: Settings, n: int, seed: int = 11) -> pd.DataFrame:
    raw = coerce(telco_subscribers(n, seed=seed), spec)
    # Some customers never had their support contacts recorded: a nullable integer feature.
    raw.loc[raw.index[::7], "support_contacts_90d"] = float("nan")
    features = load_model_code("churn", settings).derive_features(raw)
    return pseudonymise_frame(features, spec, settings.pseudonym_key_bytes())


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """300 customers written, applied and materialized into a SQLite online store."""
    settings = Settings(home=tmp_path_factory.mktemp("home"), feast_project=_project())
    spec = load_spec("churn", settings)
    raw_ids = set(telco_subscribers(300, seed=11)["customerID"])
    features = _features(spec, settings, 300)
    client = FeatureStoreClient(settings)
    sizes = client.write_offline(spec, features)
    client.apply(spec)
    client.materialize(datetime.now(UTC))
    return settings, spec, client, features, sizes, raw_ids


def test_offline_rows_are_pseudonymous_per_view_and_idempotent(pipeline) -> None:
    settings, spec, client, features, sizes, raw_ids = pipeline
    assert sizes == dict.fromkeys(spec.features.feature_views, 300)
    model = client.definitions(spec)
    stored = {v.name: pd.read_parquet(client.source_path(v)) for v in model.views}
    for view in model.views:
        frame = stored[view.name]
        assert client.source_path(view) == settings.feast_dir / "data" / f"{view.name}.parquet"
        assert list(frame.columns) == ["customer_pid", "event_timestamp", *(f.name for f in view.features)]
        assert not raw_ids & set(frame.astype(str).to_numpy().ravel())
    # Ingesting the same rows again changes nothing.
    assert client.write_offline(spec, features) == sizes
    for view in model.views:
        pd.testing.assert_frame_equal(pd.read_parquet(client.source_path(view)), stored[view.name])


def test_registry_keeps_the_governance_tags(pipeline) -> None:
    _, _, client, *_ = pipeline
    view = client.store.get_feature_view("customer_account")
    assert view.tags["data_category"] == "demographic,contract,billing,usage"
    assert view.tags["team"] == "customer-retention"
    tags = {f.name: f.tags["data_category"] for f in view.features}
    assert tags["Partner"] == "demographic" and tags["support_contacts_90d"] == "usage"


def test_training_frame_keeps_every_row_in_order_with_its_extra_columns(pipeline) -> None:
    _, spec, client, features, *_ = pipeline
    sample = features.sample(frac=1, random_state=5).iloc[:120]
    entity = sample[["customer_pid", "event_timestamp", "Churn", "gender", "SeniorCitizen", "Partner"]].copy()
    first = sample.iloc[0]
    extra = pd.DataFrame(
        {
            "customer_pid": ["cx_not_a_customer", first["customer_pid"], first["customer_pid"]],
            # before the customer's only feature row: nothing may be joined (Feast would drop this row)
            "event_timestamp": [
                first["event_timestamp"],
                first["event_timestamp"] - timedelta(days=1),
                first["event_timestamp"],
            ],  # a duplicate of an existing entity row
            "Churn": ["No", "Yes", "No"],
            "gender": ["Male", "Female", "Male"],
            "SeniorCitizen": ["0", "1", "0"],
            "Partner": ["No", "No", "No"],
        },
        index=[1000, 1001, 1002],
    )
    entity = pd.concat([entity, extra])

    frame = client.training_frame(spec, entity)

    assert list(frame.index) == list(entity.index)
    assert list(frame["customer_pid"]) == list(entity["customer_pid"])
    assert list(frame["Churn"]) == list(entity["Churn"]) and list(frame["gender"]) == list(entity["gender"])
    assert set(spec.features.names) <= set(frame.columns)
    assert frame.loc[[1000, 1001], spec.features.names].isna().all(axis=None)
    known = frame.loc[sample.index]
    for name in SAMPLE:
        pd.testing.assert_series_equal(known[name], sample[name].astype(known[name].dtype), check_names=False)
    assert frame.loc[1002, spec.features.names].equals(frame.loc[sample.index[0], spec.features.names])
    assert str(frame["tenure"].dtype) == "Int64" and frame["MonthlyCharges"].dtype == "float64"


def test_point_in_time_join_never_leaks_later_rows_and_materialize_picks_up_late_rows(tmp_path) -> None:
    settings = Settings(home=tmp_path, feast_project=_project())
    spec = load_spec("churn", settings)
    client = FeatureStoreClient(settings)
    base = _features(spec, settings, 3, seed=2)
    pid, t0 = base.iloc[0]["customer_pid"], base.iloc[0]["event_timestamp"]
    client.write_offline(spec, base)
    client.apply(spec)
    now = datetime.now(UTC)
    client.materialize(now)

    # A later observation of the same customer (a contract change). Generated rows are at least an hour
    # old, so this one is still in the past and within the materialized window.
    changed = t0 + timedelta(minutes=30)
    later = base.iloc[[0]].assign(
        event_timestamp=changed, tenure=119.0, Contract="Two year", MonthlyCharges=499.0
    )
    client.write_offline(spec, later)
    moments = [
        changed - timedelta(minutes=10),
        changed,
        changed + timedelta(minutes=20),
        changed + timedelta(days=401),
    ]
    entity = pd.DataFrame({"customer_pid": [pid] * 4, "Churn": ["No"] * 4, "event_timestamp": moments})
    frame = client.training_frame(spec, entity)
    # It is invisible before its timestamp, visible from it on, and gone after the 400-day TTL.
    assert frame["tenure"].tolist()[:3] == [int(base.iloc[0]["tenure"]), 119, 119]
    assert frame["MonthlyCharges"].tolist()[:3] == [base.iloc[0]["MonthlyCharges"], 499.0, 499.0]
    assert frame.iloc[3][spec.features.names].isna().all()

    # A new customer written after the last run, with a timestamp before it, still reaches the store.
    late = _features(spec, settings, 1, seed=99)
    client.write_offline(spec, late)
    client.materialize(now + timedelta(seconds=1))
    online, unknown = client.online_features(spec, [pid, late.iloc[0]["customer_pid"]])
    assert unknown == []
    assert online["tenure"].tolist() == [119, int(late.iloc[0]["tenure"])]


@pytest.fixture(params=["sqlite", "redis"])
def online_client(request, pipeline) -> Iterator[FeatureStoreClient]:
    settings, spec, client, *_ = pipeline
    if request.param == "sqlite":
        yield client
        return
    url = request.getfixturevalue("redis_server")
    redis_settings = Settings(
        home=settings.home, online_store="redis", redis_url=url, feast_project=_project()
    )
    redis_client = FeatureStoreClient(redis_settings)
    connection = redis.Redis.from_url(url)
    pattern = f"*{redis_settings.feast_project}".encode()
    try:
        redis_client.apply(spec)
        redis_client.materialize(datetime.now(UTC))
        # Keys end with the project name (a unique one per test, so nothing else matches).
        assert len(list(connection.scan_iter(match=pattern))) == 300
        yield redis_client
    finally:
        # Feast's own teardown misses keys written with entity_key_serialization_version 3.
        for key in connection.scan_iter(match=pattern):
            connection.delete(key)
        redis_client.store.teardown()


def test_online_features_in_request_order_with_python_types_and_unknowns(pipeline, online_client) -> None:
    _, spec, _, features, *_ = pipeline
    rows = features.iloc[[42, 7, 199, 7]]
    pids = [*rows["customer_pid"], "cx_0000000000000000000000000000dead"]

    frame, unknown = online_client.online_features(spec, pids)

    assert list(frame.columns) == ["customer_pid", *spec.features.names]
    assert list(frame["customer_pid"]) == pids
    assert unknown == ["cx_0000000000000000000000000000dead"]
    assert frame.iloc[4][spec.features.names].isna().all()
    for name in SAMPLE:
        expected = rows[name].reset_index(drop=True).astype(frame[name].dtype)
        pd.testing.assert_series_equal(frame[name].iloc[:4], expected, check_names=False)
    # Feast itself hands back Python int / float / str (None when missing).
    raw = online_client.store.get_online_features(
        features=online_client._service(spec), entity_rows=[{"customer_pid": pids[0]}]
    ).to_dict()
    assert type(raw["tenure"][0]) is int and type(raw["num_services"][0]) is int
    assert type(raw["MonthlyCharges"][0]) is float and type(raw["Contract"][0]) is str
    nulls = features[features["support_contacts_90d"].isna()].iloc[0]["customer_pid"]
    assert online_client.online_features(spec, [nulls])[0]["support_contacts_90d"].isna().all()
    assert online_client.online_features(spec, [])[0].empty


def test_online_reads_equal_feasts_own_get_online_features(pipeline, online_client) -> None:
    """Serving reads the resolved views with the online store's `online_read`; the frame is exactly the
    one Feast's general `get_online_features` gives, typed (missing rows, nullable integers, repeats)."""
    _, spec, _, features, *_ = pipeline
    nulls = list(features.loc[features["support_contacts_90d"].isna(), "customer_pid"].iloc[:3])
    pids = [*features["customer_pid"].iloc[:20], *nulls, "cx_0000000000000000000000000000beef", nulls[0]]
    assert online_client._read_plan(spec) is not None

    frame, unknown = online_client.online_features(spec, pids)

    join_key, names = spec.features.join_key, spec.features.names
    general = online_client.store.get_online_features(
        features=online_client._service(spec), entity_rows=[{join_key: p} for p in pids]
    ).to_dict()
    kinds = {c.name: kind_of_column(c) for c in spec.features.inputs}
    expected = typed(pd.DataFrame({join_key: pids, **{n: general[n] for n in names}}), kinds)
    pd.testing.assert_frame_equal(frame, expected)
    assert unknown == ["cx_0000000000000000000000000000beef"]


def test_one_client_serves_concurrent_requests(pipeline, online_client) -> None:
    """Serving shares one client between request threads."""
    _, spec, _, features, *_ = pipeline
    batches = [list(features["customer_pid"].iloc[i : i + 25]) for i in range(0, 200, 25)]
    expected = [online_client.online_features(spec, batch)[0] for batch in batches]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda batch: online_client.online_features(spec, batch)[0], batches * 3))
    for index, frame in enumerate(results):
        pd.testing.assert_frame_equal(frame, expected[index % len(batches)])


def test_feast_cli_applies_the_repository(tmp_path, monkeypatch) -> None:
    """`feast apply` on a copy of feature_repo/ (the CLI's own code, in this process to save a start-up)."""
    from click.testing import CliRunner
    from feast.cli import cli

    repo = tmp_path / "feature_repo"
    shutil.copytree(
        Settings(home=tmp_path / "home").feature_repo_dir,
        repo,
        ignore=shutil.ignore_patterns("data", "__pycache__"),
    )
    # The CLI imports definition modules by bare name, changes directory and extends sys.path: make it
    # import the copy, and restore all three afterwards.
    for module in ("governance", "entities", "customer_features", "feature_services"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)

    done = CliRunner().invoke(cli, ["--chdir", str(repo), "apply"])

    assert done.exit_code == 0, done.output[-2000:]
    assert "Created feature service churn_features" in done.output
    assert (repo / "data" / "registry.db").is_file()
    assert Path(sys.modules["customer_features"].__file__).parent == repo
