"""Validate rendered manifests offline: built-in kinds against the Kubernetes OpenAPI schemas
(kubernetes-validate, strict), custom resources against their CRD schemas (`cxops.deploy.crds`)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from cxops.deploy.crds import (
    CUSTOM_KINDS,
    DEFINITIONS_URI,
    KUBERNETES_VERSION,
    custom_schema,
    kubernetes_definitions,
)
from cxops.deploy.errors import ManifestInvalidError

__all__ = ["check_manifests", "describe", "validate_manifest"]


def describe(obj: dict[str, Any]) -> str:
    """`Deployment cxops/cxops-api`: how a problem names the object."""
    meta = obj.get("metadata") or {}
    namespace = f"{meta['namespace']}/" if meta.get("namespace") else ""
    name = meta.get("name") or (f"{meta['generateName']}*" if meta.get("generateName") else "?")
    return f"{obj.get('kind', '?')} {namespace}{name}"


@cache
def _custom_validator(api_version: str, kind: str) -> Any:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    registry = Registry().with_resource(DEFINITIONS_URI, Resource.from_contents(kubernetes_definitions()))
    return Draft202012Validator(custom_schema(api_version, kind), registry=registry)


def _path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".") or "(root)"


def validate_manifest(obj: Any) -> list[str]:
    """Every schema problem of one manifest, each naming the object and the field; [] when it is valid."""
    if not isinstance(obj, dict) or not obj.get("apiVersion") or not obj.get("kind"):
        return [f"a document without apiVersion/kind: {str(obj)[:80]!r}"]
    key = (obj["apiVersion"], obj["kind"])
    if key in CUSTOM_KINDS:
        errors = sorted(_custom_validator(*key).iter_errors(obj), key=lambda e: list(e.absolute_path))
        return [f"{describe(obj)}: {_path(e.absolute_path)}: {e.message[:300]}" for e in errors]
    import kubernetes_validate
    from kubernetes_validate.utils import SchemaNotFoundError, ValidationError

    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except ValidationError as error:  # carries the jsonschema error's fields; the first problem only
        return [f"{describe(obj)}: {_path(error.absolute_path)}: {error.message[:300]}"]
    except SchemaNotFoundError:
        return [
            f"{describe(obj)}: no schema for {obj['kind']} ({obj['apiVersion']}) in Kubernetes "
            f"{KUBERNETES_VERSION} nor among the custom resources CXOps knows"
        ]
    return []


def check_manifests(objects: Iterable[dict[str, Any]]) -> int:
    """Validate all; ManifestInvalidError listing every problem, else the number of objects checked."""
    problems: list[str] = []
    count = 0
    for obj in objects:
        count += 1
        problems.extend(validate_manifest(obj))
    if problems:
        raise ManifestInvalidError(problems)
    return count
