"""The CXOps metadata store and model registry: dataset snapshots, validation runs and numbered model
versions with metrics, artifacts, lineage and stage, on SQLite (embedded default) or PostgreSQL.

    with Registry.from_settings(settings) as registry:
        record = registry.register_version("churn", metrics=..., ..., dataset_version=snapshot.version)
"""

from cxops.registry._audit import GENESIS_HASH, AuditRecord, AuditVerification
from cxops.registry._errors import (
    RegistryConflictError,
    RegistryError,
    RegistryInputError,
    RegistryNotFoundError,
)
from cxops.registry._migrate import current_revision, head_revision, migrate
from cxops.registry._records import DatasetRecord, ModelSummary, ModelVersionRecord, Stage, ValidationRecord
from cxops.registry._service import Registry

__all__ = [
    "GENESIS_HASH",
    "AuditRecord",
    "AuditVerification",
    "DatasetRecord",
    "ModelSummary",
    "ModelVersionRecord",
    "Registry",
    "RegistryConflictError",
    "RegistryError",
    "RegistryInputError",
    "RegistryNotFoundError",
    "Stage",
    "ValidationRecord",
    "current_revision",
    "head_revision",
    "migrate",
]
