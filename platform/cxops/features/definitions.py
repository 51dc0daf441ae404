"""The Feast repository's definitions, imported from its folder the way the `feast` CLI imports them.

Every `*.py` file of the repository (minus `.feastignore`d ones) is imported under the module name the
CLI gives it, with the repository folder on `sys.path` for the duration, so definition modules can
import one another (`from entities import customer`) exactly as they do under `feast apply`.
`for_spec` picks the entity, views and service a model spec names and checks them against the spec.
"""

from __future__ import annotations

import importlib
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cxops.features._types import feast_type
from cxops.features.errors import FeatureDefinitionError
from cxops.specs import ModelSpec

if TYPE_CHECKING:
    from feast import Entity, FeatureService, FeatureView

__all__ = ["Definitions", "ModelFeatures", "for_spec", "load_definitions", "service_fields"]

_IMPORT_LOCK = threading.Lock()


@dataclass(frozen=True)
class Definitions:
    """Every entity, feature view and feature service of one repository, by name."""

    repo_dir: Path
    entities: dict[str, Entity] = field(default_factory=dict)
    feature_views: dict[str, FeatureView] = field(default_factory=dict)
    feature_services: dict[str, FeatureService] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelFeatures:
    """What one model reads: its entity, its feature views (spec order) and its feature service."""

    entity: Entity
    views: list[FeatureView]
    service: FeatureService
    item_entity: Entity | None = None
    """The entity a ranking model scores against the customer (the offer), when it has one."""

    @property
    def objects(self) -> list[Entity | FeatureView | FeatureService]:
        entities = [self.entity] + ([self.item_entity] if self.item_entity is not None else [])
        return [*entities, *self.views, self.service]

    def join_key_of(self, view: FeatureView) -> str:
        """The join key a view is keyed by: the item entity's for item views, else the customer's."""
        if self.item_entity is not None and self.item_entity.name in view.entities:
            return self.item_entity.join_key
        return self.entity.join_key

    def views_keyed_by(self, join_key: str) -> list[FeatureView]:
        return [v for v in self.views if self.join_key_of(v) == join_key]


def _module_name(repo_dir: Path, path: Path) -> str:
    return ".".join(path.relative_to(repo_dir).with_suffix("").parts)


def _import_modules(repo_dir: Path) -> list:
    from feast.repo_operations import get_repo_files

    files = {_module_name(repo_dir, p): p for p in get_repo_files(repo_dir)}
    with _IMPORT_LOCK:
        for name, path in files.items():
            loaded = sys.modules.get(name)
            loaded_file = getattr(loaded, "__file__", None)
            if loaded is not None and (loaded_file is None or Path(loaded_file).resolve() != path):
                del sys.modules[name]  # a module of the same name from another repository (or not a file)
        importlib.invalidate_caches()
        sys.path.insert(0, str(repo_dir))
        try:
            modules = []
            for name in files:
                try:
                    modules.append(importlib.import_module(name))
                except Exception as exc:
                    raise FeatureDefinitionError(
                        f"feature repository {repo_dir}: module '{name}' failed to import: {exc}; "
                        f"check it with `cd {repo_dir} && feast plan`"
                    ) from exc
        finally:
            sys.path.remove(str(repo_dir))
    return modules


def load_definitions(repo_dir: Path) -> Definitions:
    """Import the repository in `repo_dir` and collect its Feast objects (each name defined once)."""
    from feast import Entity, FeatureService, FeatureView

    repo_dir = Path(repo_dir).resolve()
    if not (repo_dir / "feature_store.yaml").is_file():
        raise FeatureDefinitionError(
            f"{repo_dir} is not a Feast repository (no feature_store.yaml); "
            "set CXOPS_ROOT to the checkout that holds feature_repo/"
        )
    found = Definitions(repo_dir)
    for module in _import_modules(repo_dir):
        for obj in vars(module).values():
            for kind, cls, table in (
                ("entity", Entity, found.entities),
                ("feature view", FeatureView, found.feature_views),
                ("feature service", FeatureService, found.feature_services),
            ):
                if not isinstance(obj, cls):
                    continue
                known = table.get(obj.name)
                if known is not None and known is not obj:
                    raise FeatureDefinitionError(
                        f"feature repository {repo_dir}: {kind} '{obj.name}' is defined twice "
                        f"(again in {module.__name__}); give each a unique name"
                    )
                table[obj.name] = obj
    return found


def service_fields(service: FeatureService) -> dict[str, str]:
    """Feature name -> Feast type name of everything a feature service serves."""
    return {f.name: str(f.dtype) for proj in service.feature_view_projections for f in proj.features}


def _pick(table: dict, name: str, kind: str, spec: ModelSpec, where: Path):
    if name not in table:
        raise FeatureDefinitionError(
            f"model '{spec.name}': the feature repository {where} defines no {kind} '{name}'; "
            f"known: {', '.join(sorted(table)) or 'none'}"
        )
    return table[name]


def for_spec(spec: ModelSpec, definitions: Definitions) -> ModelFeatures:
    """The spec's entity, views and service, checked: join key, views and every input's name and type."""
    where = definitions.repo_dir
    features = spec.features
    entity = _pick(definitions.entities, features.entity, "entity", spec, where)
    if entity.join_key != features.join_key:
        raise FeatureDefinitionError(
            f"model '{spec.name}': entity '{entity.name}' joins on '{entity.join_key}' but the spec says "
            f"'{features.join_key}'; make features.join_key and the entity's join_keys agree"
        )
    item_entity = None
    if features.item_entity is not None:
        item_entity = _pick(definitions.entities, features.item_entity, "entity", spec, where)
        if item_entity.join_key != features.item_join_key:
            raise FeatureDefinitionError(
                f"model '{spec.name}': entity '{item_entity.name}' joins on '{item_entity.join_key}' but the "
                f"spec says '{features.item_join_key}'; make features.item_join_key and the entity agree"
            )
    views = [
        _pick(definitions.feature_views, name, "feature view", spec, where) for name in features.feature_views
    ]
    service = _pick(definitions.feature_services, features.feature_service, "feature service", spec, where)

    problems = []
    keyed_by = [entity.name] + ([item_entity.name] if item_entity is not None else [])
    for view in views:
        if not any(name in view.entities for name in keyed_by):
            problems.append(f"feature view '{view.name}' is not keyed by entity {' or '.join(keyed_by)}")
    served_views = [p.name for p in service.feature_view_projections]
    if sorted(served_views) != sorted(features.feature_views):
        problems.append(
            f"feature service '{service.name}' reads views {served_views}, "
            f"the spec names {features.feature_views}"
        )
    served = service_fields(service)
    # The item's own id is an input taken from the request (the pair being scored), not a served feature.
    expected = {c.name: str(feast_type(c)) for c in features.inputs if c.name in features.served_names}
    missing = [n for n in expected if n not in served]
    extra = [n for n in served if n not in expected]
    mistyped = [
        f"{n} is {served[n]}, expected {t}" for n, t in expected.items() if n in served and served[n] != t
    ]
    if missing:
        problems.append(f"inputs not served: {missing}")
    if extra:
        problems.append(f"served features that are not inputs: {extra}")
    if mistyped:
        problems.append(f"wrong Feast types: {'; '.join(mistyped)}")
    if problems:
        raise FeatureDefinitionError(
            f"model '{spec.name}': the feature repository {where} disagrees with "
            f"models/{spec.name}/spec.yaml (features): {'; '.join(problems)}"
        )
    return ModelFeatures(entity=entity, views=views, service=service, item_entity=item_entity)
