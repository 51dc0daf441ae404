"""GDPR erasure and retention purges end to end, on real stores: Feast offline parquet, the online store
(SQLite and Redis), request logs and dataset snapshots, with the metadata store on SQLite and PostgreSQL.

One small installation is built once (40 generated subscribers through the real FeatureStoreClient) and
copied for each test, which then changes it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import redis
import sqlalchemy as sa
from dateutil.relativedelta import relativedelta
from typer.testing import CliRunner

from cxops.cli import gdpr as gdpr_cli
from cxops.config import Settings
from cxops.data.generators import telco_subscribers
from cxops.data.loaders import coerce
from cxops.data.snapshot import snapshot
from cxops.features import FeatureStoreClient, load_definitions
from cxops.governance._feast_targets import _serialized
from cxops.governance.errors import GovernanceError, PermissionDeniedError
from cxops.governance.gdpr import erase_subject, purge_expired, retraining_flags
from cxops.governance.service import Governance
from cxops.privacy import pseudonymise, pseudonymise_frame
from cxops.registry import Stage
from cxops.registry._schema import ModelVersion
from cxops.specs import ModelSpec, load_model_code, load_spec

pytestmark = pytest.mark.integration

KEY = "k" * 32
CLOCK = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CUSTOMER_VIEWS = ("customer_account", "customer_services", "customer_billing")
VIEWS = (*CUSTOMER_VIEWS, "customer_consent")
PAIRS = "customer_offer_responses"
OFFERS = ("o1", "o2")
PAIR_CUSTOMERS = 10
# A view keyed by customer and offer together, as offer-response features are: its online keys hold an
# offer id beside the customer's pseudonym.
PAIR_VIEW = f"""
from datetime import timedelta

from entities import customer, offer
from feast import FeatureView, Field, FileSource
from feast.types import String

{PAIRS} = FeatureView(
    name="{PAIRS}",
    entities=[customer, offer],
    ttl=timedelta(days=400),
    schema=[Field(name="customer_pid", dtype=String), Field(name="offer_id", dtype=String),
            Field(name="offer_response", dtype=String)],
    source=FileSource(name="{PAIRS}_source", path="data/{PAIRS}.parquet", timestamp_field="event_timestamp"),
)
"""


@dataclass(frozen=True)
class Installation:
    settings: Settings
    spec: ModelSpec
    raw: pd.DataFrame
    features: pd.DataFrame
    """Pseudonymised feature rows, one per customer."""
    consent_pids: list[str]
    snapshots: dict[str, Path]
    """`all` (every customer) and `rest` (every customer but the first): dataset version -> file."""
    versions: dict[str, str]
    split: datetime
    """The median event time: purge tests expire the rows before it."""


def _apply_pairs(client: FeatureStoreClient, settings: Settings) -> None:
    definitions = load_definitions(settings.feature_repo_dir)
    client.store.apply([definitions.entities["customer"], definitions.entities["offer"]])
    client.store.apply([definitions.feature_views[PAIRS]])


def _pair(client: FeatureStoreClient, pid: str) -> object:
    rows = [{"customer_pid": pid, "offer_id": OFFERS[0]}]
    return client.store.get_online_features(features=[f"{PAIRS}:offer_response"], entity_rows=rows).to_dict()[
        "offer_response"
    ][0]


def _settings(home: Path, **changes: object) -> Settings:
    return Settings(**({"home": home, "feast_project": "gdpr", "pseudonym_key": KEY} | changes))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Installation:
    """40 customers: features offline and online (SQLite), consent for half of them, offer responses of
    10, two snapshots, a request log."""
    base = tmp_path_factory.mktemp("template")
    repo = Settings().root
    for folder in ("models", "policies", "feature_repo"):
        shutil.copytree(
            repo / folder, base / "root" / folder, ignore=shutil.ignore_patterns("__pycache__", "data")
        )
    (base / "root" / "feature_repo" / f"{PAIRS}.py").write_text(PAIR_VIEW)
    settings = _settings(base / "home", root=base / "root")
    spec = load_spec("churn", settings)
    raw = coerce(telco_subscribers(40, seed=3), spec)
    features = pseudonymise_frame(
        load_model_code("churn", settings).derive_features(raw), spec, settings.pseudonym_key_bytes()
    )
    client = FeatureStoreClient(settings)
    client.write_offline(spec, features)
    client.apply(spec)
    split = features["event_timestamp"].sort_values().iloc[20].to_pydatetime()
    consent = features.iloc[::2][["customer_pid"]].assign(
        event_timestamp=split - timedelta(days=30), marketing_consent="Yes", profiling_opt_out="No"
    )
    client.write_view("customer_consent", consent)
    pairs = features.iloc[:PAIR_CUSTOMERS][["customer_pid", "event_timestamp"]]
    pairs = pd.concat(
        [pairs.assign(offer_id=o, offer_response="accepted") for o in OFFERS], ignore_index=True
    )
    pairs.to_parquet(settings.feast_dir / "data" / f"{PAIRS}.parquet", index=False)
    _apply_pairs(client, settings)
    client.materialize(datetime.now(UTC))
    snaps = {
        "all": snapshot(raw, "churn", settings.datasets_dir, "test"),
        "rest": snapshot(raw.iloc[1:], "churn", settings.datasets_dir, "test"),
    }
    logs = settings.home_dir / "logs" / "churn"
    logs.mkdir(parents=True)
    # Stamped 80, 84, ... 100 days before the purge tests' `now`: half are past the 90 days of retention.
    purge_at = split + relativedelta(months=13)
    lines = [
        {"timestamp": (purge_at - timedelta(days=80 + 4 * i)).isoformat(), "customer_pid": pid, "score": 0.5}
        for i, pid in enumerate(features["customer_pid"].iloc[:6])
    ]
    lines.append({"timestamp": split.isoformat(), "request": {"ids": [features["customer_pid"].iloc[0]]}})
    assert features["customer_pid"].iloc[0] == pseudonymise(raw["customerID"].iloc[0], KEY.encode())
    (logs / "requests.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return Installation(
        settings,
        spec,
        raw,
        features,
        list(consent["customer_pid"]),
        {k: s.path for k, s in snaps.items()},
        {k: s.version for k, s in snaps.items()},
        split,
    )


@dataclass(frozen=True)
class World:
    """A copy of the template with its own metadata store, online store and governance."""

    inst: Installation
    settings: Settings
    gov: Governance
    client: FeatureStoreClient

    @property
    def subject(self) -> str:
        return str(self.inst.raw["customerID"].iloc[0])

    @property
    def pid(self) -> str:
        return pseudonymise(self.subject, KEY.encode())

    def offline(self, view: str) -> pd.DataFrame:
        return pd.read_parquet(self.settings.feast_dir / "data" / f"{view}.parquet")

    def snapshot(self, which: str) -> pd.DataFrame:
        return pd.read_parquet(self.settings.datasets_dir / "churn" / f"{self.inst.versions[which]}.parquet")

    def online(self, pids: list[str]) -> tuple[pd.DataFrame, list[str]]:
        return self.client.online_features(self.inst.spec, pids)

    def consent(self, pid: str) -> object:
        return self.client.online_view("customer_consent", "customer_pid", [pid])["marketing_consent"].iloc[0]

    def digest(self) -> dict[str, str]:
        """Every file of the installation but the databases (SQLite online store included) and locks."""
        files = sorted(p for p in self.settings.home_dir.rglob("*") if p.is_file())
        kept = [p for p in files if ".lock" not in p.name and ".db" not in p.name]
        return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in kept}


def _world(tmp_path: Path, inst: Installation, database_url: str, online: str, request) -> Iterator[World]:
    home = tmp_path / "home"
    shutil.copytree(inst.settings.home_dir, home)
    changes: dict[str, object] = {"database_url": database_url}
    if online == "redis":
        changes |= {"online_store": "redis", "redis_url": request.getfixturevalue("redis_server")}
        changes |= {"feast_project": f"gdpr_{uuid.uuid4().hex[:10]}"}
    settings = _settings(home, root=inst.settings.root, **changes)
    client = FeatureStoreClient(settings)
    if online == "redis":
        client.apply(inst.spec)
        _apply_pairs(client, settings)
        client.write_view(
            "customer_consent", pd.read_parquet(settings.feast_dir / "data/customer_consent.parquet")
        )
        client.materialize(datetime.now(UTC))
    gov = Governance.from_settings(settings)
    gov.clock = lambda: CLOCK
    registry = gov.registry
    for which in ("all", "rest"):
        path = home / inst.snapshots[which].relative_to(inst.settings.home_dir)
        registry.record_dataset("churn", inst.versions[which], path, len(pd.read_parquet(path)), "test")
    for dataset in ("all", "all", "rest"):
        registry.register_version(
            "churn",
            metrics={"roc_auc": 0.8},
            artifacts={},
            params={},
            lineage={},
            owner="retention-analytics@cxops.example",
            team="customer-retention",
            created_by="maya",
            dataset_version=inst.versions[dataset],
        )
    for version, stage in ((1, Stage.PRODUCTION), (2, Stage.ARCHIVED)):
        registry.write(
            lambda session, v=version, s=stage: session.execute(
                sa.update(ModelVersion)
                .where(ModelVersion.model == "churn", ModelVersion.version == v)
                .values(stage=s.value)
            ),
            "staging a test version",
        )
    try:
        yield World(inst, settings, gov, client)
    finally:
        gov.close()
        if online == "redis":
            connection = redis.Redis.from_url(settings.redis_url)
            for key in connection.scan_iter(match=f"*{settings.feast_project}".encode()):
                connection.delete(key)


@pytest.fixture(params=["sqlite", "redis"])
def world(request, tmp_path: Path, template: Installation, database_url: str) -> Iterator[World]:
    yield from _world(tmp_path, template, database_url, request.param, request)


@pytest.fixture
def sqlite_world(request, tmp_path: Path, template: Installation, database_url: str) -> Iterator[World]:
    yield from _world(tmp_path, template, database_url, "sqlite", request)


def _online_key_present(world: World, pid: str, view: str = "customer_account") -> bool:
    """Whether the online store still holds the exact row Feast wrote for this customer."""
    key = _serialized(["customer_pid"], [pid])
    if world.settings.online_store == "redis":
        connection = redis.Redis.from_url(world.settings.redis_url)
        return bool(connection.exists(key + world.settings.feast_project.encode()))
    with sqlite3.connect(world.settings.feast_dir / "online_store.db") as connection:
        table = f"{world.settings.feast_project}_{view}"
        return (
            connection.execute(f"SELECT count(*) FROM {table} WHERE entity_key = ?", (key,)).fetchone()[0] > 0
        )


def test_erasure_removes_the_customer_from_every_store_flags_versions_and_audits(world: World) -> None:
    inst, gov, pid = world.inst, world.gov, world.pid
    other = inst.features["customer_pid"].iloc[2]  # has a consent record too
    before = {view: world.offline(view) for view in (*VIEWS, PAIRS)}
    assert pid in set(before["customer_consent"]["customer_pid"]) and _online_key_present(world, pid)
    assert world.online([pid, other])[1] == [] and world.consent(pid) == "Yes"
    assert _pair(world.client, pid) == "accepted" and _pair(world.client, other) == "accepted"
    rest = (world.settings.datasets_dir / "churn" / f"{inst.versions['rest']}.parquet").read_bytes()
    online = "feast_online_redis" if world.settings.online_store == "redis" else "feast_online_sqlite"

    report = erase_subject(gov, gov.actor("dana"), world.subject, reason="erasure request #4411")

    assert report.subject == pid
    # A row in each of the 4 views and 1 per offer (offline and online), 2 log lines, 1 snapshot row.
    assert report.counts == {"feast_offline": 6, online: 6, "request_logs": 2, "dataset_snapshots": 1}
    for view in (*VIEWS, PAIRS):
        after = world.offline(view)
        assert pid not in set(after["customer_pid"])
        pd.testing.assert_frame_equal(
            after.reset_index(drop=True),
            before[view][before[view]["customer_pid"] != pid].reset_index(drop=True),
        )
    frame, unknown = world.online([pid, other])
    assert unknown == [pid] and frame.iloc[1][inst.spec.features.names].notna().any()
    assert world.consent(pid) is None and world.consent(other) == "Yes"
    assert _pair(world.client, pid) is None and _pair(world.client, other) == "accepted"
    assert not _online_key_present(world, pid) and _online_key_present(world, other)
    logs = (world.settings.home_dir / "logs" / "churn" / "requests.jsonl").read_text().splitlines()
    assert len(logs) == 5 and not any(pid in line for line in logs)
    held = world.snapshot("all")
    assert world.subject not in set(held["customerID"]) and len(held) == len(inst.raw) - 1
    assert (world.settings.datasets_dir / "churn" / f"{inst.versions['rest']}.parquet").read_bytes() == rest
    assert gov.registry.get_dataset("churn", inst.versions["all"]).rows == len(inst.raw) - 1

    # Version 1 (production, trained on the subject's snapshot) is flagged; 2 is archived, 3 never held them.
    due = CLOCK + timedelta(days=30)
    assert [(f.model, f.version, f.stage, f.due_by, f.new) for f in report.flagged] == [
        ("churn", 1, "production", due, True)
    ]
    flags = retraining_flags(gov, gov.actor("maya"))
    assert [(f.model, f.version, f.due_by, f.audit_seq) for f in flags] == [
        ("churn", 1, due, report.audit_seq)
    ]
    event = gov.registry.audit_events(action="gdpr.erased")[0]
    assert (event.seq, event.actor, event.role, event.reason) == (
        report.audit_seq,
        "dana",
        "compliance",
        "erasure request #4411",
    )
    assert event.payload["subject"] == pid and event.payload["counts"] == report.counts
    assert event.payload["flagged"] == [
        {"model": "churn", "version": 1, "due_by": due.isoformat(), "new": True}
    ]
    assert world.subject not in json.dumps(event.payload)

    # The same request again: nothing left to remove, the earlier flag stands, and it is recorded again.
    again = erase_subject(gov, gov.actor("dana"), world.subject, reason="erasure request #4411 (repeat)")
    assert again.total == 0 and set(again.counts) == set(report.counts)
    assert again.flagged == []  # the earlier flag stands
    assert len(retraining_flags(gov, gov.actor("dana"))) == 1
    assert gov.registry.audit_events(action="gdpr.erased")[0].seq == again.audit_seq
    assert gov.registry.verify_audit().ok


def test_an_unknown_customer_is_erased_with_zero_counts_and_recorded(sqlite_world: World) -> None:
    world = sqlite_world
    digest = world.digest()

    report = erase_subject(world.gov, world.gov.actor("root-admin"), "0000-NOBODY", reason="request #9")

    assert report.total == 0 and report.flagged == [] and report.datasets == {}
    assert world.digest() == digest and retraining_flags(world.gov, world.gov.actor("dana")) == []
    event = world.gov.registry.audit_events(action="gdpr")[0]
    assert (event.action, event.role, event.payload["subject"]) == ("gdpr.erased", "admin", report.subject)
    assert world.gov.registry.verify_audit().ok


def test_a_second_flagged_erasure_keeps_the_earliest_deadline(sqlite_world: World) -> None:
    world, gov = sqlite_world, sqlite_world.gov
    first = erase_subject(gov, gov.actor("dana"), world.subject, reason="request #1")
    gov.clock = lambda: CLOCK + timedelta(days=5)
    second_id = str(world.inst.raw["customerID"].iloc[1])  # in both snapshots: versions 1 and 3

    second = erase_subject(gov, gov.actor("dana"), second_id, reason="request #2")

    assert [(f.version, f.due_by, f.new) for f in second.flagged] == [
        (1, first.flagged[0].due_by, False),
        (3, CLOCK + timedelta(days=35), True),
    ]
    flags = retraining_flags(gov, gov.actor("dana"), "churn")
    assert [(f.version, f.audit_seq) for f in flags] == [(1, first.audit_seq), (3, second.audit_seq)]


def test_purge_drops_what_is_past_retention_and_keeps_consent(world: World) -> None:
    inst, gov = world.inst, world.gov
    features = inst.features
    old = features[features["event_timestamp"] < inst.split]
    new = features[features["event_timestamp"] >= inst.split]
    now = inst.split + relativedelta(months=13)
    online = "feast_online_redis" if world.settings.online_store == "redis" else "feast_online_sqlite"
    old_lines = 4  # 92, 96 and 100 days old, and the line stamped at the split
    old_pairs = len(OFFERS) * int((features["event_timestamp"].iloc[:PAIR_CUSTOMERS] < inst.split).sum())
    expected = {
        "feast_offline": 3 * len(old) + old_pairs,
        online: 3 * len(old) + old_pairs,
        "request_logs": old_lines,
        "dataset_snapshots": 0,
    }
    digest = world.digest()

    dry = purge_expired(gov, gov.actor("dana"), now=now, dry_run=True)

    assert dry.counts == expected and dry.audit_seq is None and world.digest() == digest
    assert dry.cutoffs["feast_offline"] == now - relativedelta(months=13)
    assert dry.periods == {"feast_offline": "13 months", online: "13 months", "request_logs": "90 days",
                           "dataset_snapshots": "24 months"}  # fmt: skip

    report = purge_expired(gov, gov.actor("dana"), now=now)

    assert report.counts == expected and report.audit_seq is not None
    for view in CUSTOMER_VIEWS:
        assert set(world.offline(view)["customer_pid"]) == set(new["customer_pid"])
    consent = world.offline("customer_consent")
    assert sorted(consent["customer_pid"]) == sorted(
        inst.consent_pids
    )  # no time limit, though older than the rest
    frame, unknown = world.online([*old["customer_pid"], *new["customer_pid"]])
    assert unknown == list(old["customer_pid"])
    assert all(world.consent(pid) == "Yes" for pid in inst.consent_pids)
    assert [
        _pair(world.client, pid) is None for pid in features["customer_pid"].iloc[:PAIR_CUSTOMERS]
    ] == list(features["event_timestamp"].iloc[:PAIR_CUSTOMERS] < inst.split)
    event = gov.registry.audit_events(action="gdpr.purged")[0]
    assert event.seq == report.audit_seq and event.payload["counts"] == expected
    assert event.payload["views"] == {"customer_consent": None}

    # Idempotent: run again, nothing more goes (it is still recorded: the schedule ran).
    assert purge_expired(gov, gov.actor("dana"), now=now).total == 0

    # Two years on, snapshot rows go too, and the registry's row counts follow the files.
    later = purge_expired(gov, gov.actor("dana"), now=inst.split + relativedelta(months=24))
    assert later.counts["dataset_snapshots"] == 2 * len(old) - (
        inst.raw.iloc[0]["event_timestamp"] < inst.split
    )
    for which in ("all", "rest"):
        held = world.snapshot(which)
        assert (held["event_timestamp"] >= inst.split).all() and len(held) > 0
        assert gov.registry.get_dataset("churn", inst.versions[which]).rows == len(held)
    assert gov.registry.verify_audit().ok


def test_without_the_permission_nothing_changes(sqlite_world: World) -> None:
    world, gov = sqlite_world, sqlite_world.gov
    digest, events = world.digest(), len(gov.registry.audit_events(limit=1000))

    for user in ("maya", "nobody"):
        with pytest.raises(
            PermissionDeniedError, match=f"user '{user}' .* may not do 'gdpr.erase'"
        ) as caught:
            erase_subject(gov, gov.actor(user), world.subject, reason="not mine to do")
        assert caught.value.status_code == 403
    with pytest.raises(
        PermissionDeniedError, match="may not do 'gdpr.purge'; roles that may: compliance, retention, admin"
    ):
        purge_expired(gov, gov.actor("maya"), now=CLOCK)

    assert world.digest() == digest and _online_key_present(world, world.pid)
    assert len(gov.registry.audit_events(limit=1000)) == events
    assert retraining_flags(gov, gov.actor("dana")) == []


def test_cli_erases_lists_flags_and_purges(sqlite_world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world = sqlite_world
    env = world.settings.to_env() | {"CXOPS_ACTOR": "dana"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()

    erased = runner.invoke(gdpr_cli.app, ["erase", "--customer-id", world.subject, "--reason", "request #7"])

    assert erased.exit_code == 0, erased.output
    assert world.pid in erased.output and world.subject not in erased.output
    due = f"{datetime.now(UTC) + timedelta(days=30):%Y-%m-%d}"
    assert "flagged for retraining" in erased.output and due in erased.output
    assert "feast_offline" in erased.output and "dataset_snapshots" in erased.output
    listed = runner.invoke(gdpr_cli.app, ["flags", "--json"])
    assert [(f["model"], f["version"]) for f in json.loads(listed.output)] == [("churn", 1)]
    digest = world.digest()
    dry = runner.invoke(gdpr_cli.app, ["purge", "--dry-run"])
    assert dry.exit_code == 0 and "would remove" in dry.output and "dry run: nothing changed" in dry.output
    assert world.digest() == digest

    monkeypatch.setenv("CXOPS_ACTOR", "maya")
    refused = runner.invoke(gdpr_cli.app, ["erase", "--customer-id", world.subject, "--reason", "x"])
    assert isinstance(refused.exception, PermissionDeniedError)


def test_an_erasure_without_the_key_the_stores_were_written_with_is_refused(
    sqlite_world: World, tmp_path: Path
) -> None:
    world = sqlite_world
    elsewhere = tmp_path / "elsewhere"  # no CXOPS_PSEUDONYM_KEY, no key file: a new key would match nothing
    keyless = Governance(world.gov.registry, Settings(home=elsewhere, root=world.settings.root))
    digest, events = world.digest(), len(world.gov.registry.audit_events(limit=1000))

    with pytest.raises(GovernanceError, match="no pseudonym key: CXOPS_PSEUDONYM_KEY is unset") as caught:
        erase_subject(keyless, keyless.actor("dana"), world.subject, reason="request #3")

    assert caught.value.status_code == 409 and not (elsewhere / "pseudonym.key").exists()
    assert world.digest() == digest and len(world.gov.registry.audit_events(limit=1000)) == events
