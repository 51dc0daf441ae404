"""The metadata store: datasets, validation runs and numbered model versions with their lineage."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from os import PathLike
from types import TracebackType
from typing import Any, Self, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from cxops.config import Settings, get_settings
from cxops.registry._audit import AuditRecord, AuditVerification, append_event, query_events, verify_chain
from cxops.registry._engine import WRITE_OPTIONS, create_engine, normalise_url
from cxops.registry._errors import (
    RegistryConflictError,
    RegistryError,
    RegistryInputError,
    RegistryNotFoundError,
)
from cxops.registry._jsonable import to_json
from cxops.registry._migrate import upgrade
from cxops.registry._records import DatasetRecord, ModelSummary, ModelVersionRecord, Stage, ValidationRecord
from cxops.registry._schema import Dataset, ModelVersion, Validation

__all__ = ["Registry"]

T = TypeVar("T")

# Namespace (first key) of the per-model advisory locks taken on PostgreSQL while numbering a new version.
_PG_VERSION_LOCK_NS = 0x43584F70


def format_numbers(numbers: Iterable[int]) -> str:
    """`[1, 2, 3, 4, 6, 8, 9]` -> "1–4, 6, 8, 9": how error messages list known versions and ids."""
    runs: list[list[int]] = []
    for n in sorted(set(numbers)):
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    parts = [f"{run[0]}–{run[-1]}" if len(run) > 2 else ", ".join(map(str, run)) for run in runs]
    return ", ".join(parts)


class Registry:
    """The CXOps metadata store on SQLite (embedded default) or PostgreSQL (production).

    Opening it applies any pending schema migrations. Every method returns plain frozen records. Use it as a
    context manager, or call `close()`, to release the database connections."""

    def __init__(self, url: str | URL, *, migrate: bool = True, max_attempts: int = 20) -> None:
        self._url = make_url(normalise_url(url))
        self._engine = create_engine(self._url)
        try:
            if migrate:
                upgrade(self._engine)
        except OperationalError as error:
            self._engine.dispose()
            raise RegistryError(
                f"cannot open the metadata store at {self.url}: {str(error.orig).strip()}; "
                "check CXOPS_DATABASE_URL and that the database server is running",
                status_code=503,
            ) from error
        except BaseException:
            self._engine.dispose()
            raise
        self._max_attempts = max_attempts
        self._read: sessionmaker[Session] = sessionmaker(self._engine, expire_on_commit=False)
        self._write: sessionmaker[Session] = sessionmaker(
            self._engine.execution_options(**WRITE_OPTIONS), expire_on_commit=False
        )

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Registry:
        """The store configured by `CXOPS_DATABASE_URL`, or the SQLite file in the CXOps home directory."""
        return cls((settings or get_settings()).metadata_url)

    @property
    def url(self) -> str:
        """The database URL with any password masked."""
        return self._url.render_as_string(hide_password=True)

    @property
    def engine(self) -> Engine:
        return self._engine

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Registry({self.url!r})"

    # Datasets and validations -------------------------------------------------------------------------------

    def record_dataset(
        self, model: str, version: str, uri: str | PathLike[str], rows: int, source: str
    ) -> DatasetRecord:
        """Record a dataset snapshot. Idempotent: the version is a content hash, so a snapshot recorded before
        under this version is the same data, and its first record is returned unchanged."""
        _check_name(model, "model")
        _check_name(version, "dataset version")

        def write(session: Session) -> DatasetRecord:
            row = _dataset_row(session, model, version)
            if row is None:
                row = Dataset(model=model, version=version, uri=str(uri), rows=int(rows), source=source)
                session.add(row)
                session.flush()
            return _dataset_record(row)

        return self._retrying(write, f"recording dataset {version!r} of model {model!r}")

    def get_dataset(self, model: str, version: str) -> DatasetRecord:
        with self._read() as session:
            row = _dataset_row(session, model, version)
            if row is None:
                raise _dataset_not_found(session, model, version)
            return _dataset_record(row)

    def record_validation(
        self,
        model: str,
        dataset_version: str,
        suite: str,
        success: bool,
        statistics: Mapping[str, Any] | None = None,
        report_uri: str | PathLike[str] | None = None,
    ) -> int:
        """Record one run of an expectation suite against a recorded dataset; returns the validation's id."""
        _check_name(suite, "suite")
        statistics_json = to_json(dict(statistics or {}), "statistics")
        with self._write.begin() as session:
            if _dataset_row(session, model, dataset_version) is None:
                raise _dataset_not_found(session, model, dataset_version)
            row = Validation(
                model=model,
                dataset_version=dataset_version,
                suite=suite,
                success=bool(success),
                statistics=statistics_json,
                report_uri=None if report_uri is None else str(report_uri),
            )
            session.add(row)
            session.flush()
            return row.id

    def get_validation(self, id: int) -> ValidationRecord:
        with self._read() as session:
            row = session.get(Validation, id)
            if row is None:
                first, last = session.execute(
                    sa.select(sa.func.min(Validation.id), sa.func.max(Validation.id))
                ).one()
                known = f"recorded ids run {first}–{last}" if first is not None else "none is recorded yet"
                raise RegistryNotFoundError(f"no validation with id {id}; {known}")
            return ValidationRecord(
                id=row.id,
                model=row.model,
                dataset_version=row.dataset_version,
                suite=row.suite,
                success=row.success,
                statistics=row.statistics,
                report_uri=row.report_uri,
                created_at=row.created_at,
            )

    # Model versions -----------------------------------------------------------------------------------------

    def register_version(
        self,
        model: str,
        *,
        metrics: Mapping[str, Any],
        artifacts: Mapping[str, str | PathLike[str]],
        params: Mapping[str, Any],
        lineage: Mapping[str, Any],
        owner: str,
        team: str,
        created_by: str,
        dataset_version: str | None,
        description: str = "",
        role: str = "pipeline",
    ) -> ModelVersionRecord:
        """Register the next version of `model` (1 for its first) as a candidate.

        Numbering is safe under concurrent writers: the unique (model, version) constraint rejects a number
        taken meanwhile and the registration is retried with the next one. `dataset_version`, when given,
        must be a recorded dataset of this model; it is also written into the lineage. The registration is
        recorded in the audit log, as done by `created_by` acting as `role`."""
        for value, what in ((model, "model"), (owner, "owner"), (team, "team"), (created_by, "created_by")):
            _check_name(value, what)
        lineage_json = to_json(dict(lineage), "lineage")
        recorded = lineage_json.setdefault("dataset_version", dataset_version)
        if recorded != dataset_version:
            raise RegistryInputError(
                f"lineage names dataset version {recorded!r} but dataset_version is {dataset_version!r}; "
                "pass the same version in both, or leave it out of the lineage"
            )
        values = {
            "metrics": to_json(dict(metrics), "metrics"),
            "artifacts": _uris(artifacts),
            "params": to_json(dict(params), "params"),
            "lineage": lineage_json,
            "owner": owner,
            "team": team,
            "created_by": created_by,
            "dataset_version": dataset_version,
            "description": description,
        }

        def write(session: Session) -> ModelVersionRecord:
            if dataset_version is not None and _dataset_row(session, model, dataset_version) is None:
                raise _dataset_not_found(session, model, dataset_version)
            if session.get_bind().dialect.name == "postgresql":
                # Writers of one model take turns, so the retry below is the exception, not the rule.
                session.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:ns, hashtext(:model))"),
                    {"ns": _PG_VERSION_LOCK_NS, "model": model},
                )
            row = ModelVersion(
                model=model, version=self._next_version(session, model), stage=Stage.CANDIDATE.value, **values
            )
            session.add(row)
            session.flush()
            append_event(
                session,
                actor=created_by,
                role=role,
                action="model.registered",
                model=model,
                version=row.version,
                payload={"dataset_version": dataset_version, "metrics": values["metrics"]},
            )
            return _version_record(row)

        return self._retrying(write, f"registering a version of model {model!r}")

    def _next_version(self, session: Session, model: str) -> int:
        query = sa.select(sa.func.max(ModelVersion.version)).where(ModelVersion.model == model)
        latest = session.scalar(query)
        return (latest or 0) + 1

    def get_version(self, model: str, version: int | None = None) -> ModelVersionRecord:
        """One version of `model`; the latest when `version` is None."""
        with self._read() as session:
            return _version_record(_version_row(session, model, version))

    def list_versions(self, model: str) -> list[ModelVersionRecord]:
        """All versions of `model`, oldest first."""
        with self._read() as session:
            rows = session.scalars(
                sa.select(ModelVersion).where(ModelVersion.model == model).order_by(ModelVersion.version)
            ).all()
            if not rows:
                raise _model_not_found(session, model)
            return [_version_record(row) for row in rows]

    def list_models(self) -> list[ModelSummary]:
        """Every model with at least one version, by name."""
        with self._read() as session:
            totals = session.execute(
                sa.select(
                    ModelVersion.model,
                    sa.func.max(ModelVersion.version),
                    sa.func.count(),
                    sa.func.max(ModelVersion.created_at),
                )
                .group_by(ModelVersion.model)
                .order_by(ModelVersion.model)
            ).all()
            stage_counts: dict[str, dict[Stage, int]] = {}
            for name, stage, count in session.execute(
                sa.select(ModelVersion.model, ModelVersion.stage, sa.func.count()).group_by(
                    ModelVersion.model, ModelVersion.stage
                )
            ):
                stage_counts.setdefault(name, {})[Stage(stage)] = count
        return [
            ModelSummary(
                name=name,
                latest_version=latest,
                versions=count,
                stages={stage: stage_counts[name][stage] for stage in Stage if stage in stage_counts[name]},
                latest_created_at=latest_created_at,
            )
            for name, latest, count, latest_created_at in totals
        ]

    def set_bento(self, model: str, version: int, tag: str, *, actor: str = "pipeline") -> ModelVersionRecord:
        """Link the version to the bento (`name:tag`) that packages it (recorded in the audit log)."""
        with self._write.begin() as session:
            row = _version_row(session, model, version)
            row.bento_tag = tag
            session.flush()
            append_event(
                session,
                actor=actor,
                role="pipeline",
                action="model.packaged",
                model=model,
                version=version,
                payload={"bento": tag},
            )
            return _version_record(row)

    def add_artifacts(
        self, model: str, version: int, artifacts: Mapping[str, str | PathLike[str]]
    ) -> ModelVersionRecord:
        """Add (or replace, by name) artifact URIs of a version, e.g. the evaluation report and model card."""

        new = _uris(artifacts)

        def merge(row: ModelVersion) -> None:
            # A new dict, not an in-place update: plain JSON columns do not track mutation.
            row.artifacts = {**row.artifacts, **new}

        return self._update(model, version, merge)

    # Audit log and transactions for governance -------------------------------------------------------------

    def record_event(
        self,
        *,
        actor: str,
        role: str,
        action: str,
        reason: str = "",
        model: str | None = None,
        version: int | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> AuditRecord:
        """Append one event to the audit log in a transaction of its own."""
        return self.write(
            lambda session: append_event(
                session,
                actor=actor,
                role=role,
                action=action,
                reason=reason,
                model=model,
                version=version,
                payload=payload,
            ),
            f"recording audit event {action!r}",
        )

    def audit_events(
        self,
        *,
        model: str | None = None,
        version: int | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditRecord]:
        """Audit events, newest first, filtered by any of the arguments (`action` is a prefix)."""
        with self._read() as session:
            return query_events(
                session,
                model=model,
                version=version,
                actor=actor,
                action=action,
                since=since,
                until=until,
                limit=limit,
            )

    def verify_audit(self) -> AuditVerification:
        """Recompute the hash chain of the whole audit log (see `cxops.registry._audit`)."""
        with self._read() as session:
            return verify_chain(session)

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only session (no transaction is committed)."""
        with self._read() as session:
            yield session

    def write(self, work: Callable[[Session], T], what: str) -> T:
        """Run `work` in one write transaction, retried from the start when a concurrent writer took a unique
        key it needed (the next version number, the next audit link). `work` must be safe to run again."""
        return self._retrying(work, what)

    # Internals ----------------------------------------------------------------------------------------------

    def _update(self, model: str, version: int, change: Callable[[ModelVersion], None]) -> ModelVersionRecord:
        with self._write.begin() as session:
            row = _version_row(session, model, version)
            change(row)
            session.flush()
            return _version_record(row)

    def _retrying(self, write: Callable[[Session], T], what: str) -> T:
        """Run `write` in its own transaction, again when a concurrent writer took the same unique key."""
        for attempt in range(1, self._max_attempts + 1):
            try:
                with self._write.begin() as session:
                    return write(session)
            except IntegrityError as error:
                if not _is_unique_violation(error):
                    raise
                if attempt == self._max_attempts:
                    raise RegistryConflictError(
                        f"{what} failed {attempt} times on concurrent writes; try again ({error.orig})"
                    ) from error
                time.sleep(random.uniform(0, 0.01 * attempt))
        raise AssertionError("unreachable")


def _is_unique_violation(error: IntegrityError) -> bool:
    """Only a taken unique key is worth retrying; other integrity errors would fail the same way again."""
    orig = error.orig
    return getattr(orig, "sqlstate", None) == "23505" or getattr(orig, "sqlite_errorname", None) in (
        "SQLITE_CONSTRAINT_UNIQUE",
        "SQLITE_CONSTRAINT_PRIMARYKEY",
    )


def _uris(artifacts: Mapping[str, str | PathLike[str]]) -> dict[str, str]:
    uris = {}
    for name, uri in artifacts.items():
        if not isinstance(name, str) or not isinstance(uri, str | PathLike):
            raise RegistryInputError(
                f"artifact {name!r} -> {uri!r} is not a name and a URI; pass {{name: uri or path}}"
            )
        uris[name] = str(uri)
    return uris


def _check_name(value: str, what: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise RegistryInputError(f"{what} must be a non-empty string, got {value!r}")


def _dataset_row(session: Session, model: str, version: str) -> Dataset | None:
    return session.scalar(sa.select(Dataset).where(Dataset.model == model, Dataset.version == version))


def _dataset_not_found(session: Session, model: str, version: str) -> RegistryNotFoundError:
    newest = session.scalars(
        sa.select(Dataset.version).where(Dataset.model == model).order_by(Dataset.id.desc()).limit(5)
    ).all()
    known = f"its newest are: {', '.join(newest)}" if newest else "it has none recorded"
    return RegistryNotFoundError(
        f"model {model!r} has no dataset version {version!r} ({known}); "
        "record the snapshot with Registry.record_dataset() before referring to it"
    )


def _model_not_found(session: Session, model: str) -> RegistryNotFoundError:
    names = session.scalars(sa.select(ModelVersion.model).distinct().order_by(ModelVersion.model)).all()
    known = f"known models: {', '.join(names)}" if names else "no model has a registered version yet"
    return RegistryNotFoundError(f"no model {model!r} in the registry; {known}")


def _version_row(session: Session, model: str, version: int | None) -> ModelVersion:
    query = sa.select(ModelVersion).where(ModelVersion.model == model)
    if version is None:
        row = session.scalar(query.order_by(ModelVersion.version.desc()).limit(1))
    else:
        row = session.scalar(query.where(ModelVersion.version == version))
    if row is not None:
        return row
    versions = session.scalars(sa.select(ModelVersion.version).where(ModelVersion.model == model)).all()
    if not versions:
        raise _model_not_found(session, model)
    raise RegistryNotFoundError(
        f"model {model!r} has no version {version}; known versions: {format_numbers(versions)}"
    )


def _dataset_record(row: Dataset) -> DatasetRecord:
    return DatasetRecord(
        model=row.model,
        version=row.version,
        uri=row.uri,
        rows=row.rows,
        source=row.source,
        created_at=row.created_at,
    )


def _version_record(row: ModelVersion) -> ModelVersionRecord:
    return ModelVersionRecord(
        model=row.model,
        version=row.version,
        stage=Stage(row.stage),
        metrics=row.metrics,
        artifacts=row.artifacts,
        params=row.params,
        lineage=row.lineage,
        owner=row.owner,
        team=row.team,
        created_by=row.created_by,
        created_at=row.created_at,
        dataset_version=row.dataset_version,
        bento_tag=row.bento_tag,
        description=row.description,
    )
