"""Where personal data lives, as erasure targets: each store that holds rows about a customer can remove one
customer's rows (an erasure request, GDPR art. 17) and the rows past their retention period (art. 5(1)(e)).

Targets are keyed by the customer's pseudonym (`customer_pid`, see `cxops.privacy`), never the raw id.
The built-in ones cover the Feast offline store, the online store (SQLite or Redis), request logs and the
raw dataset snapshots models are trained on. Code that adds a store of personal data registers a factory:

    register_target("monitoring_windows", lambda settings, registry: [WindowTarget(settings)])

and gives the store a period in `policies/retention.yaml`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING

from cxops.governance.errors import GovernanceInputError
from cxops.governance.retention import Cutoff

if TYPE_CHECKING:
    from cxops.config import Settings
    from cxops.registry import Registry

__all__ = [
    "SUBJECT_KEY",
    "ErasureTarget",
    "TargetFactory",
    "TrainingDataTarget",
    "erasure_targets",
    "register_target",
    "registered_targets",
]

SUBJECT_KEY = "customer_pid"
"""The join key of the `customer` entity (feature_repo/entities.py): a customer's pseudonym."""


class ErasureTarget(ABC):
    """One store of personal data."""

    name: str
    """Unique; the key of this target's counts in reports and audit entries."""
    store: str
    """The store in `policies/retention.yaml` whose period applies to this target's rows."""

    @abstractmethod
    def erase(self, pids: Collection[str]) -> int:
        """Remove every row about these pseudonyms; the number removed (0 when none was there)."""

    @abstractmethod
    def purge(self, cutoff: Cutoff, *, dry_run: bool = False) -> int:
        """Remove the rows whose event time is before the cutoff; the number removed (or that would be)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class TrainingDataTarget(ErasureTarget):
    """A target holding the rows models were trained on: it can tell which training sets held a customer."""

    @abstractmethod
    def holders(self, pids: Collection[str]) -> dict[tuple[str, str], int]:
        """(model, dataset version) -> rows about these pseudonyms, for each training set that has any."""


TargetFactory = Callable[["Settings", "Registry"], Iterable[ErasureTarget]]

_FACTORIES: dict[str, TargetFactory] = {}


def register_target(name: str, factory: TargetFactory) -> None:
    """Add (or replace, by name) a factory of targets; it runs for every erasure and purge."""
    if not name or not callable(factory):
        raise GovernanceInputError(f"register_target({name!r}, ...) needs a name and a callable factory")
    _FACTORIES[name] = factory


def registered_targets() -> list[str]:
    return list(_FACTORIES)


def erasure_targets(settings: Settings, registry: Registry) -> list[ErasureTarget]:
    """Every target of this installation. Targets holding training data come last: an erasure reads from
    them which model versions to flag, so they must still hold the rows if an earlier target fails."""
    targets = [t for factory in _FACTORIES.values() for t in factory(settings, registry)]
    names = [t.name for t in targets]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise GovernanceInputError(f"erasure targets {twice} are registered twice; give each a unique name")
    return sorted(targets, key=lambda t: isinstance(t, TrainingDataTarget))


def _feature_targets(settings: Settings, registry: Registry) -> list[ErasureTarget]:
    from cxops.governance._feast_targets import feast_targets

    return feast_targets(settings)


def _request_logs(settings: Settings, registry: Registry) -> list[ErasureTarget]:
    from cxops.governance._file_targets import RequestLogTarget

    return [RequestLogTarget(settings.home_dir / "logs")]


def _snapshots(settings: Settings, registry: Registry) -> list[ErasureTarget]:
    from cxops.governance._file_targets import DatasetSnapshotTarget

    return [DatasetSnapshotTarget(settings, registry)]


register_target("feast", _feature_targets)
register_target("request_logs", _request_logs)
register_target("dataset_snapshots", _snapshots)
