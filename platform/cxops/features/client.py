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

import numpy as np
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
        self._plans: dict[str, list[tuple[FeatureView, list[str]]] | None] = {}

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
        self._plans.pop(spec.name, None)
        log.info(
            "feast project '%s': applied %s for model '%s'",
            self.project,
            ", ".join(o.name for o in model.objects),
            spec.name,
        )

    # -- offline ------------------------------------------------------------------------------------

    def write_offline(self, spec: ModelSpec, features: pd.DataFrame) -> dict[str, int]:
        """Store customer feature rows (keyed by join key + timestamp) in each customer view's parquet source.

        Rows replace stored rows with the same (customer_pid, event_timestamp), so re-ingesting the same
        data is idempotent. Columns that are not features of a view (label, raw demographics used only
        for bias reports) are never stored. Item views (a ranking model's offers) are written with
        `write_view`. Returns the number of rows each view's source then holds.
        """
        model = self.definitions(spec)
        join_key, timestamp = spec.features.join_key, spec.data.timestamp
        views = model.views_keyed_by(join_key)
        needed = [join_key, timestamp, *(f.name for v in views for f in v.features)]
        missing = [c for c in dict.fromkeys(needed) if c not in features.columns]
        if missing:
            raise InvalidInputError(
                f"model '{spec.name}': feature rows lack columns {missing}; derive them "
                f"with models/{spec.name}/model.py and pseudonymise the entity key first"
            )
        sizes = {view.name: self._write(view, features, join_key, timestamp) for view in views}
        log.info("model '%s': wrote %d feature row(s) to %s", spec.name, len(features), ", ".join(sizes))
        return sizes

    def write_view(self, view_name: str, rows: pd.DataFrame, timestamp: str = ENTITY_TIMESTAMP) -> int:
        """Store rows of any view of the repository (its join key, `timestamp` and its features) and
        register the view and its entity; returns the number of rows its source then holds."""
        definitions = load_definitions(self.settings.feature_repo_dir)
        view = definitions.feature_views.get(view_name)
        if view is None:
            raise NotFoundError(
                f"the feature repository {definitions.repo_dir} defines no feature view '{view_name}'; "
                f"known: {', '.join(sorted(definitions.feature_views))}"
            )
        join_key = view.entity_columns[0].name
        needed = [join_key, timestamp, *(f.name for f in view.features)]
        missing = [c for c in needed if c not in rows.columns]
        if missing:
            raise InvalidInputError(f"rows for feature view '{view_name}' lack columns {missing}")
        size = self._write(view, rows, join_key, timestamp)
        entities = [definitions.entities[name] for name in view.entities]
        self.store.apply([*entities, view])
        if self.config.registry.registry_type == "sql":
            self.store.refresh_registry()
        return size

    def _write(self, view: FeatureView, features: pd.DataFrame, join_key: str, timestamp: str) -> int:
        for column in (join_key, timestamp):
            empty = int(features[column].isna().sum())
            if empty:
                raise InvalidInputError(f"feature view '{view.name}': {empty} row(s) have no '{column}'")
        stamps = utc_timestamps(features[timestamp])
        source_ts = view.batch_source.timestamp_field
        kinds: dict[str, Kind] = {f.name: kind_of_feast_type(f.name, f.dtype) for f in view.features}
        rows = features[[join_key, *kinds]].assign(**{source_ts: stamps})[[join_key, source_ts, *kinds]]
        rows = typed(rows, {join_key: "string", **kinds})
        rows = rows.drop_duplicates(subset=[join_key, source_ts], keep="last")
        return merge_rows(
            self.source_path(view),
            rows,
            join_key=join_key,
            timestamp=source_ts,
            kinds={join_key: "string", **kinds},
        )

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
        plan = self._read_plan(spec)
        if plan is None:
            values = self.store.get_online_features(
                features=self._service(spec), entity_rows=[{join_key: p} for p in pids]
            ).to_dict()
            frame = typed(pd.DataFrame({join_key: pids, **{n: values[n] for n in names}}), kinds)
        else:
            values = self._online_read(plan, join_key, pids)
            frame = pd.DataFrame({join_key: pids, **{n: _column(values[n], kinds[n]) for n in names}})
        unknown_rows = frame[names].isna().all(axis=1)
        unknown = list(dict.fromkeys(frame.loc[unknown_rows, join_key]))
        return frame, unknown

    def _read_plan(self, spec: ModelSpec) -> list[tuple[FeatureView, list[str]]] | None:
        """The applied views of the spec's feature service and the features read from each, resolved once.

        `FeatureStore.get_online_features` rebuilds every feature view from the registry's protos on each
        call (milliseconds of validation per request); serving reads the same few views every time, so
        they are resolved here once and read with the online store's own `online_read`. None when the
        service needs Feast's general path (aliased or on-demand views, a view keyed by anything but the
        customer's string key).
        """
        if spec.name in self._plans:
            return self._plans[spec.name]
        from feast.errors import FeatureViewNotFoundException
        from feast.types import String

        join_key = spec.features.join_key
        plan: list[tuple[FeatureView, list[str]]] | None = []
        for projection in self._service(spec).feature_view_projections:
            try:
                view = self.store.get_feature_view(projection.name)
            except FeatureViewNotFoundException:  # an on-demand view: not an online table
                plan = None
                break
            keys = [(c.name, c.dtype) for c in view.entity_columns]
            if projection.name_alias or projection.join_key_map or keys != [(join_key, String)]:
                plan = None
                break
            plan.append((view, [f.name for f in projection.features]))
        self._plans[spec.name] = plan
        return plan

    def _online_read(
        self, plan: list[tuple[FeatureView, list[str]]], join_key: str, pids: list[str]
    ) -> dict[str, list]:
        """Each feature's Python values (None when absent) for `pids`, read view by view."""
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value
        from feast.type_map import feast_value_type_to_python_type

        keys = [EntityKey(join_keys=[join_key], entity_values=[Value(string_val=p)]) for p in pids]
        provider = self.store._get_provider()  # the provider get_online_features itself reads through
        values: dict[str, list] = {}
        for view, names in plan:
            rows = provider.online_read(
                config=self.store.config, table=view, entity_keys=keys, requested_features=names
            )
            for name in names:
                values[name] = [
                    feast_value_type_to_python_type(data[name]) if data and name in data else None
                    for _, data in rows
                ]
        return values

    def online_pairs(self, spec: ModelSpec, customer_pid: str, item_ids: list[str]) -> pd.DataFrame:
        """A ranking model's inputs for one customer against each item, in `item_ids` order.

        Columns: both join keys, then the spec's inputs. The customer is unknown when every customer
        feature is missing (check with `customer_known`).
        """
        features = spec.features
        item_key = features.item_join_key
        served = features.served_names
        kinds = {c.name: kind_of_column(c) for c in features.inputs}
        if not item_ids:
            return typed(pd.DataFrame({features.join_key: [], **{n: [] for n in features.names}}), kinds)
        values = self.store.get_online_features(
            features=self._service(spec),
            entity_rows=[{features.join_key: str(customer_pid), item_key: str(i)} for i in item_ids],
        ).to_dict()
        frame = pd.DataFrame(
            {features.join_key: [str(customer_pid)] * len(item_ids), item_key: list(item_ids)}
            | {n: values[n] for n in served}
        )
        return typed(frame[[features.join_key, *features.names]], kinds)

    def online_view(self, view_name: str, join_key: str, keys: list[str]) -> pd.DataFrame:
        """The newest online row of a view for each key (request order); missing values where none."""
        view = self.store.get_feature_view(view_name)
        names = [f.name for f in view.features]
        values = self.store.get_online_features(
            features=[f"{view_name}:{n}" for n in names], entity_rows=[{join_key: str(k)} for k in keys]
        ).to_dict()
        return pd.DataFrame({join_key: [str(k) for k in keys], **{n: values[n] for n in names}})

    # -- training -----------------------------------------------------------------------------------

    def training_frame(self, spec: ModelSpec, entity_df: pd.DataFrame) -> pd.DataFrame:
        """Point-in-time features for each entity row (join key + timestamp), added to `entity_df`.

        Each row gets the newest feature row at or before its timestamp (within the view's TTL), never a
        later one. Every row of `entity_df` comes back in its order and index, extra columns (label,
        bias segments) kept; rows without features get missing values. Columns named like an input are
        replaced by the feature store's point-in-time values.
        """
        timestamp = spec.data.timestamp
        keys_needed = [*spec.features.join_keys, timestamp]
        missing = [c for c in keys_needed if c not in entity_df.columns]
        if missing:
            raise InvalidInputError(
                f"model '{spec.name}': the entity frame lacks columns {missing}; "
                f"it needs {keys_needed} (plus any columns to keep)"
            )
        for column in keys_needed:
            empty = int(entity_df[column].isna().sum())
            if empty:
                raise InvalidInputError(f"model '{spec.name}': {empty} entity row(s) have no '{column}'")
        names = spec.features.served_names
        join_keys = spec.features.join_keys
        kinds = {c.name: kind_of_column(c) for c in spec.features.inputs}
        frame = entity_df.drop(columns=[n for n in names if n in entity_df.columns])
        frame[timestamp] = utc_timestamps(frame[timestamp])
        for key in join_keys:
            frame[key] = frame[key].astype(str)
        # Only distinct keys go to Feast: it collapses duplicates, drops rows and reorders anyway.
        keys = frame[[*join_keys, timestamp]].drop_duplicates().rename(columns={timestamp: ENTITY_TIMESTAMP})
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
        found = found.rename(columns={ENTITY_TIMESTAMP: timestamp})[[*join_keys, timestamp, *names]]
        found[timestamp] = utc_timestamps(found[timestamp])
        for key in join_keys:
            found[key] = found[key].astype(str)
        out = frame.merge(found, on=[*join_keys, timestamp], how="left", validate="many_to_one")
        out.index = entity_df.index
        return typed(out, kinds)

    def __repr__(self) -> str:
        return f"FeatureStoreClient(project={self.project!r}, online_store={self.settings.online_store!r})"


def _column(values: list, kind: Kind) -> pd.Series | pd.api.extensions.ExtensionArray:
    """Feast's online Python values (str / int / float, None when absent) in the dtype `typed` gives."""
    if kind == "string":
        return pd.Series([None if v is None else str(v) for v in values], dtype=object)
    if kind == "integer":
        return pd.array([None if v is None else int(v) for v in values], dtype="Int64")
    return pd.Series([np.nan if v is None else float(v) for v in values], dtype="float64")


def _ttl_window(views: list[FeatureView], end: datetime) -> tuple[datetime, datetime]:
    """The (start, end) a full materialization of `views` covers: the longest TTL (0 = forever)."""
    end = _as_utc(end)
    ttls = [v.ttl for v in views]
    if any(not t for t in ttls):
        return _EPOCH, end
    return end - max(ttls), end
