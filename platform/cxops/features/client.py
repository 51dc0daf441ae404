"""The feature store of a CXOps installation: offline rows, apply, materialize, training and online reads.

One `FeatureStoreClient` holds one Feast `FeatureStore` (and so one online-store connection) for its
lifetime; serving creates it once and calls `online_features` per request.

Feast 0.47 behaviours this class works around:
- the file offline store drops entity rows that have no feature row in the TTL window, collapses
  duplicate (key, timestamp) rows and returns rows sorted by time: `training_frame` sends only the
  distinct keys and merges the result back onto the caller's frame;
- `materialize_incremental` only loads rows newer than the last run, so rows written later with older
  timestamps would never reach the online store: `materialize` always covers the whole TTL window
  (online writes keep the newest row per customer, so this is idempotent).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from cxops.config import Settings
from cxops.errors import InvalidInputError, NotFoundError
from cxops.features._offline import merge_rows, utc_timestamps
from cxops.features._types import Kind, kind_of_column, kind_of_feast_type, typed
from cxops.features.config import repo_config
from cxops.features.definitions import ModelFeatures, for_spec, load_definitions
from cxops.features.errors import FeatureStoreError
from cxops.specs import ModelSpec

if TYPE_CHECKING:
    from feast import FeatureService, FeatureStore, FeatureView

__all__ = ["ENTITY_TIMESTAMP", "FeatureStoreClient"]

log = logging.getLogger(__name__)

ENTITY_TIMESTAMP = "event_timestamp"
"""The column Feast's point-in-time join reads the entity rows' time from."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class FeatureStoreClient:
    """Feast for one CXOps installation (`settings`): project, registry and stores come from the settings."""

    def __init__(self, settings: Settings) -> None:
        from feast import FeatureStore

        self.settings = settings
        self.config = repo_config(settings)
        self.store: FeatureStore = FeatureStore(repo_path=str(settings.feast_dir), config=self.config)
        self._models: dict[str, ModelFeatures] = {}
        self._services: dict[str, FeatureService] = {}

    @property
    def project(self) -> str:
        return self.config.project

    # -- definitions ---------------------------------------------------------------------------------

    def definitions(self, spec: ModelSpec) -> ModelFeatures:
        """The spec's entity, views and service from the repository (`settings.feature_repo_dir`), checked."""
        if spec.name not in self._models:
            self._models[spec.name] = for_spec(spec, load_definitions(self.settings.feature_repo_dir))
        return self._models[spec.name]

    def source_path(self, view: FeatureView) -> Path:
        """Where a view's parquet source lives (relative source paths resolve under the Feast dir)."""
        path = Path(view.batch_source.path)
        if "://" in str(view.batch_source.path):
            raise FeatureStoreError(
                f"feature view '{view.name}' reads {view.batch_source.path}; "
                "only local parquet sources can be written by CXOps"
            )
        return path if path.is_absolute() else self.settings.feast_dir / path

    def apply(self, spec: ModelSpec) -> None:
        """Register the spec's entity, feature views and feature service in the Feast registry."""
        model = self.definitions(spec)
        self.store.apply(model.objects)
        if self.config.registry.registry_type == "sql":
            self.store.refresh_registry()  # the SQL registry serves a stale cache until refreshed
        self._services.pop(spec.name, None)
        log.info(
            "feast project '%s': applied %s for model '%s'",
            self.project,
            ", ".join(o.name for o in model.objects),
            spec.name,
        )

    # -- offline ------------------------------------------------------------------------------------

    def write_offline(self, spec: ModelSpec, features: pd.DataFrame) -> dict[str, int]:
        """Store feature rows (keyed by join key + timestamp) in each view's parquet source.

        Rows replace stored rows with the same (customer_pid, event_timestamp), so re-ingesting the same
        data is idempotent. Columns that are not features of a view (label, raw demographics used only
        for bias reports) are never stored. Returns the number of rows each view's source then holds.
        """
        model = self.definitions(spec)
        join_key, timestamp = spec.features.join_key, spec.data.timestamp
        needed = [join_key, timestamp, *(f.name for v in model.views for f in v.features)]
        missing = [c for c in dict.fromkeys(needed) if c not in features.columns]
        if missing:
            raise InvalidInputError(
                f"model '{spec.name}': feature rows lack columns {missing}; derive them "
                f"with models/{spec.name}/model.py and pseudonymise the entity key first"
            )
        for column in (join_key, timestamp):
            empty = int(features[column].isna().sum())
            if empty:
                raise InvalidInputError(f"model '{spec.name}': {empty} feature row(s) have no '{column}'")
        stamps = utc_timestamps(features[timestamp])
        sizes = {}
        for view in model.views:
            source_ts = view.batch_source.timestamp_field
            kinds: dict[str, Kind] = {f.name: kind_of_feast_type(f.name, f.dtype) for f in view.features}
            rows = features[[join_key, *kinds]].assign(**{source_ts: stamps})[[join_key, source_ts, *kinds]]
            rows = typed(rows, {join_key: "string", **kinds})
            rows = rows.drop_duplicates(subset=[join_key, source_ts], keep="last")
            sizes[view.name] = merge_rows(
                self.source_path(view),
                rows,
                join_key=join_key,
                timestamp=source_ts,
                kinds={join_key: "string", **kinds},
            )
        log.info("model '%s': wrote %d feature row(s) to %s", spec.name, len(features), ", ".join(sizes))
        return sizes

    # -- online -------------------------------------------------------------------------------------

    def materialize(self, end: datetime, views: list[str] | None = None) -> None:
        """Load the newest row of every customer (up to `end`) into the online store.

        Covers each view's whole TTL window rather than only what is new since the last run, so rows
        written late with older timestamps are not missed. `views` defaults to every applied view of the
        project. A naive `end` is taken as UTC.
        """
        from feast.errors import FeatureViewNotFoundException

        end = _as_utc(end)
        try:
            chosen = (
                [self.store.get_feature_view(name) for name in views]
                if views is not None
                else self.store.list_feature_views()
            )
        except FeatureViewNotFoundException as exc:
            raise NotFoundError(
                f"feast project '{self.project}': {exc}; apply the model's features first"
            ) from exc
        if not chosen:
            raise NotFoundError(
                f"feast project '{self.project}' has no feature views to materialize; "
                "apply a model's features first"
            )
        absent = [str(self.source_path(v)) for v in chosen if not self.source_path(v).exists()]
        if absent:
            raise NotFoundError(
                f"feast project '{self.project}': no offline feature rows at {absent}; "
                "write them (write_offline) before materializing"
            )
        start, end = _ttl_window(chosen, end)
        self.store.materialize(start_date=start, end_date=end, feature_views=[v.name for v in chosen])

    def _service(self, spec: ModelSpec) -> FeatureService:
        """The applied feature service (from the registry), cached: serving reads it on every request."""
        from feast.errors import FeatureServiceNotFoundException

        name = spec.features.feature_service
        if spec.name not in self._services:
            try:
                self._services[spec.name] = self.store.get_feature_service(name)
            except FeatureServiceNotFoundException:
                raise NotFoundError(
                    f"feast project '{self.project}' has no feature service '{name}'; "
                    f"apply model '{spec.name}' first"
                ) from None
        return self._services[spec.name]

    def online_features(self, spec: ModelSpec, customer_pids: list[str]) -> tuple[pd.DataFrame, list[str]]:
        """The model inputs of each customer, in request order, and the customers the store does not know.

        Columns: the join key, then the spec's inputs in spec order (str / Int64 / float, missing as
        None/NA/NaN). A customer is unknown when every input is missing.
        """
        join_key, names = spec.features.join_key, spec.features.names
        kinds = {c.name: kind_of_column(c) for c in spec.features.inputs}
        pids = [str(p) for p in customer_pids]
        if not pids:
            return typed(pd.DataFrame({join_key: [], **{n: [] for n in names}}), kinds), []
        service = self._service(spec)
        values = self.store.get_online_features(
            features=service, entity_rows=[{join_key: p} for p in pids]
        ).to_dict()
        frame = typed(pd.DataFrame({join_key: pids, **{n: values[n] for n in names}}), kinds)
        unknown_rows = frame[names].isna().all(axis=1)
        unknown = list(dict.fromkeys(frame.loc[unknown_rows, join_key]))
        return frame, unknown

    # -- training -----------------------------------------------------------------------------------

    def training_frame(self, spec: ModelSpec, entity_df: pd.DataFrame) -> pd.DataFrame:
        """Point-in-time features for each entity row (join key + timestamp), added to `entity_df`.

        Each row gets the newest feature row at or before its timestamp (within the view's TTL), never a
        later one. Every row of `entity_df` comes back in its order and index, extra columns (label,
        bias segments) kept; rows without features get missing values. Columns named like an input are
        replaced by the feature store's point-in-time values.
        """
        join_key, timestamp = spec.features.join_key, spec.data.timestamp
        missing = [c for c in (join_key, timestamp) if c not in entity_df.columns]
        if missing:
            raise InvalidInputError(
                f"model '{spec.name}': the entity frame lacks columns {missing}; "
                f"it needs '{join_key}' and '{timestamp}' (plus any columns to keep)"
            )
        for column in (join_key, timestamp):
            empty = int(entity_df[column].isna().sum())
            if empty:
                raise InvalidInputError(f"model '{spec.name}': {empty} entity row(s) have no '{column}'")
        names = spec.features.names
        kinds = {c.name: kind_of_column(c) for c in spec.features.inputs}
        frame = entity_df.drop(columns=[n for n in names if n in entity_df.columns])
        frame[timestamp] = utc_timestamps(frame[timestamp])
        frame[join_key] = frame[join_key].astype(str)
        # Only distinct keys go to Feast: it collapses duplicates, drops rows and reorders anyway.
        keys = frame[[join_key, timestamp]].drop_duplicates().rename(columns={timestamp: ENTITY_TIMESTAMP})
        if keys.empty:
            return typed(frame.assign(**{n: None for n in names}), kinds)
        service = self._service(spec)
        try:
            found = self.store.get_historical_features(
                entity_df=keys.reset_index(drop=True), features=service
            ).to_df()
        except Exception as exc:
            raise FeatureStoreError(
                f"feast project '{self.project}': point-in-time retrieval for model "
                f"'{spec.name}' failed: {exc}"
            ) from exc
        found = found.rename(columns={ENTITY_TIMESTAMP: timestamp})[[join_key, timestamp, *names]]
        found[timestamp] = utc_timestamps(found[timestamp])
        found[join_key] = found[join_key].astype(str)
        out = frame.merge(found, on=[join_key, timestamp], how="left", validate="many_to_one")
        out.index = entity_df.index
        return typed(out, kinds)

    def __repr__(self) -> str:
        return f"FeatureStoreClient(project={self.project!r}, online_store={self.settings.online_store!r})"


def _ttl_window(views: list[FeatureView], end: datetime) -> tuple[datetime, datetime]:
    """The (start, end) a full materialization of `views` covers: the longest TTL (0 = forever)."""
    end = _as_utc(end)
    ttls = [v.ttl for v in views]
    if any(not t for t in ttls):
        return _EPOCH, end
    return end - max(ttls), end
