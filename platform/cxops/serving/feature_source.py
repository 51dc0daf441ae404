"""Where a served model finds a customer's features when a request names only the customer.

The server depends on this small protocol, not on Feast: production serving reads the Feast online
store (`cxops.features.FeatureStoreClient` has exactly this method), tests and demos use a frame in
memory, and the Feast client is only built (and imported, which is slow) when the first lookup arrives.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import pandas as pd

from cxops.config import Settings
from cxops.errors import CXOpsError
from cxops.specs import ModelSpec

log = logging.getLogger(__name__)

__all__ = [
    "FeatureSourceUnavailableError",
    "InMemoryFeatureSource",
    "LazyFeatureSource",
    "OnlineFeatureSource",
    "feast_feature_source",
]


@runtime_checkable
class OnlineFeatureSource(Protocol):
    def online_features(
        self, spec: ModelSpec, customer_pids: Sequence[str]
    ) -> tuple[pd.DataFrame, list[str]]:
        """The model inputs (`spec.features.inputs`, in request order) of each known pseudonymised
        customer, and the pseudonyms that are not in the store."""
        ...


class FeatureSourceUnavailableError(CXOpsError):
    """The server has no working online store, so customer-id requests cannot be answered."""

    status_code = 503


class InMemoryFeatureSource:
    """Features held in a frame indexed by pseudonymised customer id (tests, demos, batch replays)."""

    def __init__(self, features: pd.DataFrame) -> None:
        if not features.index.is_unique:
            raise ValueError("InMemoryFeatureSource: the index (customer pseudonyms) must be unique")
        self._features = features

    def online_features(
        self, spec: ModelSpec, customer_pids: Sequence[str]
    ) -> tuple[pd.DataFrame, list[str]]:
        known = [p for p in customer_pids if p in self._features.index]
        unknown = [p for p in customer_pids if p not in self._features.index]
        frame = self._features.loc[known, spec.features.names].reset_index(drop=True)
        return frame, unknown


class LazyFeatureSource:
    """Builds the real source on first use; a failure to build it is a 503 that names the cause."""

    def __init__(self, factory: Callable[[], OnlineFeatureSource], description: str) -> None:
        self._factory = factory
        self._description = description
        self._source: OnlineFeatureSource | None = None
        self._lock = threading.Lock()

    def _get(self) -> OnlineFeatureSource:
        with self._lock:
            if self._source is None:
                try:
                    self._source = self._factory()
                except CXOpsError:
                    raise
                except Exception as exc:
                    raise FeatureSourceUnavailableError(
                        f"online features are unavailable ({self._description}): "
                        f"{type(exc).__name__}: {exc}; send full feature rows instead, or set up the "
                        "feature store (feast apply + materialize) and restart the server"
                    ) from exc
            return self._source

    def online_features(
        self, spec: ModelSpec, customer_pids: Sequence[str]
    ) -> tuple[pd.DataFrame, list[str]]:
        return self._get().online_features(spec, customer_pids)

    def warm_up(self) -> threading.Thread:
        """Build the source in a background thread, so the first lookup does not pay for it (importing and
        connecting Feast takes seconds). A failure is left for that lookup to report."""

        def build() -> None:
            try:
                self._get()
            except CXOpsError as exc:
                log.info("online features not ready at start-up: %s", exc)

        thread = threading.Thread(target=build, name="feature-source-warm-up", daemon=True)
        thread.start()
        return thread


def feast_feature_source(settings: Settings) -> LazyFeatureSource:
    """The installation's Feast online store (`cxops.features.FeatureStoreClient`), connected on first use."""

    def connect() -> OnlineFeatureSource:
        from cxops.features import FeatureStoreClient

        return FeatureStoreClient(settings)

    return LazyFeatureSource(
        connect, f"Feast project '{settings.feast_project}', {settings.online_store} online store"
    )
