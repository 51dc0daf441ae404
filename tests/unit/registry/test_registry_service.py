"""The registry's behaviour, one body per test run on SQLite and on PostgreSQL."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from cxops.config import Settings
from cxops.errors import ConflictError, CXOpsError, InvalidInputError, NotFoundError
from cxops.registry import (
    ModelVersionRecord,
    Registry,
    RegistryConflictError,
    RegistryError,
    RegistryInputError,
    RegistryNotFoundError,
    Stage,
)

Register = Callable[..., ModelVersionRecord]

# Checks of arguments that never reach the database: one backend is enough.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_versions_are_numbered_per_model(register: Register) -> None:
    assert [register("churn").version for _ in range(3)] == [1, 2, 3]
    assert [register("intent").version for _ in range(2)] == [1, 2]
    assert register("churn").version == 4


def test_new_versions_are_candidates_with_what_was_given(registry: Registry, register: Register) -> None:
    before = datetime.now(UTC)
    record = register("churn", owner="ana", team="retention", created_by="bo", description="first fit")
    assert isinstance(record, ModelVersionRecord)
    assert (record.model, record.version, record.ref) == ("churn", 1, "churn:1")
    assert record.stage is Stage.CANDIDATE
    assert (record.owner, record.team, record.created_by, record.description) == (
        "ana",
        "retention",
        "bo",
        "first fit",
    )
    assert record.bento_tag is None
    assert record.created_at.tzinfo is not None and record.created_at.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= record.created_at <= datetime.now(UTC) + timedelta(seconds=1)
    assert registry.get_version("churn", 1) == record


@sqlite_only
def test_records_are_frozen_and_outlive_the_registry(database_url: str) -> None:
    with Registry(database_url) as registry:
        record = registry.register_version(
            "churn",
            metrics={},
            artifacts={},
            params={},
            lineage={},
            owner="o",
            team="t",
            created_by="c",
            dataset_version=None,
        )
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.version = 2  # type: ignore[misc]
    assert record.model == "churn"


def test_json_round_trip_of_metrics_params_artifacts_and_lineage(
    registry: Registry, register: Register
) -> None:
    registry.record_dataset("churn", "d1", "file:///datasets/churn/d1.parquet", 7043, "telco")
    validation_id = registry.record_validation("churn", "d1", "churn_raw", True, {"evaluated": 21})
    metrics = {
        "roc_auc": 0.8412,
        "f1": 0.61,
        "confusion": [[900, 120], [80, 310]],
        "by_segment": {"gender": {"Female": {"recall": 0.7}, "Male": {"recall": 0.68}}},
        "passed": True,
        "note": "ünïcode ✓",
        "missing": None,
    }
    lineage = {
        "validation_id": validation_id,
        "feature_service": "churn_features",
        "feature_views": ["customer_account", "customer_services", "customer_billing"],
        "code_commit": "18c7fa2",
        "ray": {"num_workers": 2, "use_gpu": False, "cpus_per_worker": 1},
        "trainer": "xgboost",
    }
    params = {"eta": 0.1, "max_depth": 6, "objective": "binary:logistic", "num_boost_round": 300}
    artifacts = {"model": "file:///artifacts/churn/1/model", "card": Path("/artifacts/churn/1/card.md")}
    created = register(
        "churn", metrics=metrics, params=params, lineage=lineage, artifacts=artifacts, dataset_version="d1"
    )
    stored = registry.get_version("churn", created.version)
    assert stored.metrics == metrics
    assert stored.params == params
    assert stored.lineage == {**lineage, "dataset_version": "d1"}
    assert stored.artifacts == {
        "model": "file:///artifacts/churn/1/model",
        "card": "/artifacts/churn/1/card.md",
    }
    assert stored.dataset_version == "d1"
    assert stored == created


def test_numpy_values_and_non_finite_floats_are_stored_as_plain_json(
    registry: Registry, register: Register
) -> None:
    metrics = {
        "auc": np.float64(0.75),
        "rows": np.int64(7043),
        "curve": np.array([0.5, 0.25]),
        "ok": np.bool_(True),
        "undefined": float("nan"),
        "segments": {0: 0.5, 1: 0.4},
    }
    stored = registry.get_version("churn", register("churn", metrics=metrics).version)
    assert stored.metrics == {
        "auc": 0.75,
        "rows": 7043,
        "curve": [0.5, 0.25],
        "ok": True,
        "undefined": None,
        "segments": {"0": 0.5, "1": 0.4},
    }
    assert type(stored.metrics["rows"]) is int


@sqlite_only
def test_values_json_cannot_hold_are_refused_with_their_place(register: Register) -> None:
    with pytest.raises(RegistryInputError, match=r"params\['callback'\] holds a function"):
        register("churn", params={"callback": lambda: None})


@sqlite_only
def test_lineage_dataset_version_must_agree(registry: Registry, register: Register) -> None:
    registry.record_dataset("churn", "d1", "file:///d1", 1, "telco")
    with pytest.raises(RegistryInputError, match="lineage names dataset version 'd0'"):
        register("churn", lineage={"dataset_version": "d0"}, dataset_version="d1")
    assert register("churn", lineage={"dataset_version": "d1"}, dataset_version="d1").version == 1


def test_latest_version_and_listing(registry: Registry, register: Register) -> None:
    first = register("churn", metrics={"roc_auc": 0.80})
    second = register("churn", metrics={"roc_auc": 0.82})
    register("intent")
    assert registry.get_version("churn") == second
    assert registry.get_version("churn", None) == second
    assert registry.get_version("churn", 1) == first
    assert [v.version for v in registry.list_versions("churn")] == [1, 2]
    assert [v.metrics["roc_auc"] for v in registry.list_versions("churn")] == [0.80, 0.82]


def test_list_models_summarises_versions_and_stages(registry: Registry, register: Register) -> None:
    assert registry.list_models() == []
    for _ in range(3):
        register("churn")
    register("intent")
    _set_stage(registry, "churn", 1, Stage.ARCHIVED)
    _set_stage(registry, "churn", 2, Stage.PRODUCTION)
    churn, intent = registry.list_models()
    assert (churn.name, churn.latest_version, churn.versions) == ("churn", 3, 3)
    assert churn.stages == {Stage.CANDIDATE: 1, Stage.PRODUCTION: 1, Stage.ARCHIVED: 1}
    assert churn.latest_created_at == registry.get_version("churn", 3).created_at
    assert churn.latest_created_at.tzinfo is not None
    assert (intent.name, intent.latest_version, intent.versions, intent.stages) == (
        "intent",
        1,
        1,
        {Stage.CANDIDATE: 1},
    )


def _set_stage(registry: Registry, model: str, version: int, stage: Stage) -> None:
    """Stages change only through governance (gates, audit); these tests set them underneath it."""
    with registry.engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE model_versions SET stage = :stage WHERE model = :model AND version = :version"),
            {"stage": stage.value, "model": model, "version": version},
        )


def test_the_database_refuses_a_second_production_version(registry: Registry, register: Register) -> None:
    for _ in range(2):
        register("churn")
    register("intent")
    _set_stage(registry, "churn", 1, Stage.PRODUCTION)
    _set_stage(registry, "intent", 1, Stage.PRODUCTION)  # one per model, not one in all
    with pytest.raises(IntegrityError):
        _set_stage(registry, "churn", 2, Stage.PRODUCTION)
    assert registry.get_version("churn", 2).stage is Stage.CANDIDATE


def test_bento_tag_and_artifacts_are_added_later(registry: Registry, register: Register) -> None:
    register("churn", artifacts={"model": "file:///m"})
    tagged = registry.set_bento("churn", 1, "cxops-churn:1-abc123")
    assert tagged.bento_tag == "cxops-churn:1-abc123"
    registry.add_artifacts("churn", 1, {"report": "file:///r.html", "card": Path("/c.md")})
    replaced = registry.add_artifacts("churn", 1, {"model": "s3://bucket/m"})
    assert replaced.artifacts == {"model": "s3://bucket/m", "report": "file:///r.html", "card": "/c.md"}
    stored = registry.get_version("churn", 1)
    assert stored.bento_tag == "cxops-churn:1-abc123"
    assert stored.artifacts == replaced.artifacts


def test_unknown_version_lists_known_versions(registry: Registry, register: Register) -> None:
    for _ in range(6):
        register("churn")
    with pytest.raises(RegistryNotFoundError) as caught:
        registry.get_version("churn", 7)
    assert str(caught.value) == "model 'churn' has no version 7; known versions: 1–6"
    assert caught.value.status_code == 404
    with pytest.raises(NotFoundError, match="no version 9"):
        registry.set_bento("churn", 9, "x:1")


def test_unknown_model_lists_known_models(registry: Registry, register: Register) -> None:
    with pytest.raises(
        RegistryNotFoundError, match="no model 'churn' in the registry; no model has a registered"
    ):
        registry.get_version("churn")
    register("churn")
    register("intent")
    for call in (lambda: registry.get_version("sentiment"), lambda: registry.list_versions("sentiment")):
        with pytest.raises(RegistryNotFoundError, match="no model 'sentiment'.*known models: churn, intent"):
            call()


def test_error_types_fit_the_cxops_hierarchy() -> None:
    assert issubclass(RegistryNotFoundError, RegistryError) and issubclass(
        RegistryNotFoundError, NotFoundError
    )
    assert issubclass(RegistryInputError, InvalidInputError) and RegistryInputError("x").status_code == 422
    assert issubclass(RegistryConflictError, ConflictError) and RegistryConflictError("x").status_code == 409
    assert issubclass(RegistryError, CXOpsError)


def test_datasets_are_recorded_once(registry: Registry) -> None:
    first = registry.record_dataset("churn", "abc", Path("/data/churn/abc.parquet"), 7043, "telco:v1")
    again = registry.record_dataset("churn", "abc", "/elsewhere.parquet", 7043, "telco:v1")
    assert again == first
    assert registry.get_dataset("churn", "abc").uri == "/data/churn/abc.parquet"
    assert registry.record_dataset("intent", "abc", "/i.parquet", 5, "x").model == "intent"


def test_unknown_dataset_names_recorded_ones(registry: Registry, register: Register) -> None:
    with pytest.raises(RegistryNotFoundError, match=r"no dataset version 'd9' \(it has none recorded\)"):
        registry.get_dataset("churn", "d9")
    registry.record_dataset("churn", "d1", "/d1", 1, "x")
    with pytest.raises(
        RegistryNotFoundError, match=r"no dataset version 'd9' \(its newest are: d1\).*record_dataset"
    ):
        register("churn", dataset_version="d9")
    with pytest.raises(RegistryNotFoundError, match="no dataset version 'd9'"):
        registry.record_validation("churn", "d9", "suite", True)
    assert registry.list_models() == []


def test_validations_are_recorded(registry: Registry) -> None:
    with pytest.raises(RegistryNotFoundError, match="no validation with id 1; none is recorded yet"):
        registry.get_validation(1)
    registry.record_dataset("churn", "d1", "/d1", 100, "telco")
    first = registry.record_validation(
        "churn", "d1", "churn_raw", False, {"failed": ["TotalCharges"]}, "file:///r"
    )
    second = registry.record_validation("churn", "d1", "churn_raw", True)
    assert second == first + 1
    stored = registry.get_validation(first)
    assert (stored.model, stored.dataset_version, stored.suite, stored.success) == (
        "churn",
        "d1",
        "churn_raw",
        False,
    )
    assert stored.statistics == {"failed": ["TotalCharges"]}
    assert stored.report_uri == "file:///r"
    assert stored.created_at.utcoffset() == timedelta(0)
    assert registry.get_validation(second).statistics == {}
    with pytest.raises(
        RegistryNotFoundError, match=f"no validation with id 99; recorded ids run {first}–{second}"
    ):
        registry.get_validation(99)


def test_registration_retries_when_a_number_was_taken(
    registry: Registry, register: Register, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer whose number another writer took meanwhile hits the unique constraint and retries."""
    register("churn")
    real_next = Registry._next_version
    calls: list[int] = []

    def stale_once(self: Registry, session, model: str) -> int:  # type: ignore[no-untyped-def]
        calls.append(1)
        return 1 if len(calls) == 1 else real_next(self, session, model)

    monkeypatch.setattr(Registry, "_next_version", stale_once)
    assert register("churn").version == 2
    assert len(calls) == 2


def test_registration_gives_up_after_its_attempts(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with Registry(database_url, max_attempts=3) as registry:
        values = dict(metrics={}, artifacts={}, params={}, lineage={}, owner="o", team="t", created_by="c")
        registry.register_version("churn", dataset_version=None, **values)
        monkeypatch.setattr(Registry, "_next_version", lambda self, session, model: 1)
        with pytest.raises(RegistryConflictError, match="failed 3 times on concurrent writes"):
            registry.register_version("churn", dataset_version=None, **values)
        monkeypatch.undo()
        assert [v.version for v in registry.list_versions("churn")] == [1]


def test_other_integrity_errors_are_not_retried(registry: Registry, register: Register, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Only a taken (model, version) is retried; a broken constraint such as `version > 0` fails at once."""
    calls: list[str] = []

    def zero(self: Registry, session, model: str) -> int:  # type: ignore[no-untyped-def]
        calls.append(model)
        return 0

    monkeypatch.setattr(Registry, "_next_version", zero)
    with pytest.raises(IntegrityError):
        register("churn")
    assert calls == ["churn"]


@sqlite_only
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"model": " "}, "model must be a non-empty string"),
        ({"owner": None}, "owner must be a non-empty string"),
        ({"created_by": ""}, "created_by must be a non-empty string"),
        ({"artifacts": {"model": None}}, "artifact 'model' -> None is not a name and a URI"),
    ],
)
def test_incomplete_registrations_are_refused(
    registry: Registry, register: Register, overrides, message
) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RegistryInputError, match=message):
        register(**overrides)
    with pytest.raises(RegistryNotFoundError):
        registry.get_version("churn")


def test_from_settings_uses_the_sqlite_file_in_home(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    with Registry.from_settings(settings) as registry:
        assert registry.url == f"sqlite:///{tmp_path / 'home' / 'cxops.db'}"
        registry.record_dataset("churn", "d1", "/d1", 1, "x")
    assert (tmp_path / "home" / "cxops.db").is_file()


def test_from_settings_uses_the_configured_url(database_url: str, tmp_path: Path) -> None:
    with Registry.from_settings(Settings(home=tmp_path, database_url=database_url)) as registry:
        assert registry.list_models() == []
        assert registry.engine.dialect.name == database_url.split(":")[0].split("+")[0]


def test_in_memory_sqlite_is_one_database_for_all_threads() -> None:
    with Registry("sqlite://") as registry:
        values = dict(metrics={}, artifacts={}, params={}, lineage={}, owner="o", team="t", created_by="c")
        thread = threading.Thread(
            target=lambda: registry.register_version("churn", dataset_version=None, **values)
        )
        thread.start()
        thread.join()
        assert registry.get_version("churn").version == 1


def test_an_unreachable_store_is_named_in_the_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing-dir' / 'cxops.db'}"
    with pytest.raises(
        RegistryError, match="cannot open the metadata store at sqlite:///.*missing-dir"
    ) as caught:
        Registry(url)
    assert caught.value.status_code == 503
