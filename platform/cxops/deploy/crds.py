"""JSON Schemas of the custom resources CXOps renders, for offline validation without a cluster.

`kubernetes-validate` knows only the built-in kinds. The custom resources get a schema each, built from the
pinned upstream definitions that ship in this environment or in this package:

- InferenceService (serving.kserve.io/v1beta1): the KServe 0.20 SDK's models (`kserve.V1beta1*`), which
  are generated from KServe's OpenAPI definitions (`openapi_types` gives each field's type,
  `attribute_map` its wire name);
- Workflow, CronWorkflow (argoproj.io/v1alpha1): Hera's models, generated from Argo Workflows' JSON schema;
- RayJob (ray.io/v1) and ServiceMonitor (monitoring.coreos.com/v1): `schemas/*.types.json`, transcribed
  from the upstream Go API types (KubeRay `rayjob_types.go`/`raycluster_types.go`, prometheus-operator
  `servicemonitor_types.go`/`types.go`; each file names its source and commit).

Core Kubernetes types inside them (pod templates, containers, object metadata, label selectors) resolve to
kubernetes-validate's strict Kubernetes OpenAPI definitions, the same ones the built-in kinds are checked
against. Every object a schema describes rejects unknown fields (`additionalProperties: false`), as the API
server does with `fieldValidation=Strict`: a misspelt field is an error, not a silently pruned value.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

from cxops.deploy.errors import DeployError

__all__ = ["CUSTOM_KINDS", "DEFINITIONS_URI", "KUBERNETES_VERSION", "custom_schema", "kubernetes_definitions"]

KUBERNETES_VERSION = "1.37.0"
"""The Kubernetes OpenAPI version manifests are validated against (kubernetes-validate's newest)."""
DEFINITIONS_URI = "https://kubernetes.io/api/_definitions.json"
"""Where the custom schemas' `$ref`s to core Kubernetes types resolve (register the definitions there)."""
_CORE_REF = "/api/_definitions.json#/$defs/"

CUSTOM_KINDS: dict[tuple[str, str], str] = {
    ("serving.kserve.io/v1beta1", "InferenceService"): "kserve",
    ("argoproj.io/v1alpha1", "Workflow"): "argo",
    ("argoproj.io/v1alpha1", "CronWorkflow"): "argo",
    ("ray.io/v1", "RayJob"): "rayjob.types.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor.types.json",
}
"""Custom (apiVersion, kind) pairs with a schema, and where the schema comes from."""

_SCALARS: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "datetime": {"type": "string"},
    "date": {"type": "string"},
    "object": {},
    "IntOrString": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
    "Quantity": {"anyOf": [{"type": "number"}, {"type": "string"}]},
    "ResourceQuantity": {"anyOf": [{"type": "number"}, {"type": "string"}]},
    # Named by the KServe SDK's models but not generated as a class: a resource.Quantity in the CRD.
    "V1beta1MetricQuantity": {"anyOf": [{"type": "number"}, {"type": "string"}]},
}
_LIST = re.compile(r"^list\[(.+)\]$")
_DICT = re.compile(r"^dict\(str, ?(.+)\)$")
_VERSIONED = re.compile(r"^V(\d+(?:alpha\d+|beta\d+)?)([A-Z]\w*)$")
_GROUPED = re.compile(r"^K8sIoApi([A-Z][a-z]+)(V\d+(?:alpha\d+|beta\d+)?)([A-Z]\w*)$")


@cache
def kubernetes_definitions() -> dict[str, Any]:
    """kubernetes-validate's strict Kubernetes OpenAPI definitions (`$defs`) for `KUBERNETES_VERSION`."""
    import kubernetes_validate

    root = resources.files(kubernetes_validate) / "kubernetes-json-schema"
    path = root / f"v{KUBERNETES_VERSION}-local-strict" / "_definitions.json"
    return json.loads(path.read_text())


def _core_definition(class_name: str) -> str | None:
    """The Kubernetes OpenAPI definition of a kubernetes/kserve client class name (`V1PodTemplateSpec`)."""
    defs = kubernetes_definitions()["$defs"]
    grouped = _GROUPED.match(class_name)
    if grouped:
        group, version, name = grouped.groups()
        key = f"io.k8s.api.{group.lower()}.{version.lower()}.{name}"
        return key if key in defs else None
    versioned = _VERSIONED.match(class_name)
    if not versioned:
        return None
    version, name = versioned.groups()
    suffix = f".v{version}.{name}"
    found = [key for key in defs if key.endswith(suffix)]
    for prefix in ("io.k8s.api.core.", "io.k8s.apimachinery.pkg.apis.meta."):
        preferred = [key for key in found if key.startswith(prefix)]
        if preferred:
            return preferred[0]
    return found[0] if len(found) == 1 else None


class _OpenApiTypes:
    """Expands type strings (`list[V1Container]`, `dict(str, str)`, a class, a local type) to JSON Schema."""

    def __init__(self, local: dict[str, Any], classes: Any = None) -> None:
        self.local = local
        self.classes = classes  # a module whose classes carry openapi_types/attribute_map (kserve)
        self.defs: dict[str, Any] = {}

    def ref(self, type_name: str) -> dict[str, Any]:
        type_name = type_name.strip()
        if type_name in _SCALARS:
            return dict(_SCALARS[type_name])
        if match := _LIST.match(type_name):
            return {"type": "array", "items": self.ref(match.group(1))}
        if match := _DICT.match(type_name):
            return {"type": "object", "additionalProperties": self.ref(match.group(1))}
        if type_name in self.local:
            self._define(type_name, lambda: self._local(type_name))
            return {"$ref": f"#/$defs/{type_name}"}
        cls = getattr(self.classes, type_name, None) if self.classes is not None else None
        if cls is not None and type_name.startswith(("V1alpha", "V1beta")):
            self._define(type_name, lambda: self._class(cls))
            return {"$ref": f"#/$defs/{type_name}"}
        core = _core_definition(type_name)
        if core is None:
            raise DeployError(
                f"schema type '{type_name}' is neither a local type nor a Kubernetes definition"
            )
        return {"$ref": _CORE_REF + core}

    def _define(self, name: str, build: Any) -> None:
        if name not in self.defs:
            self.defs[name] = {}  # placeholder first: types refer to themselves
            self.defs[name] = build()

    def _object(self, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
        if required:
            schema["required"] = sorted(required)
        return schema

    def _local(self, name: str) -> dict[str, Any]:
        definition = self.local[name]
        properties = {}
        for field, described in definition.get("properties", {}).items():
            if isinstance(described, str):
                properties[field] = self.ref(described)
            else:
                extra = {k: v for k, v in described.items() if k != "type"}
                properties[field] = {**self.ref(described["type"]), **extra}
        return self._object(properties, list(definition.get("required", [])))

    def _class(self, cls: Any) -> dict[str, Any]:
        properties = {
            cls.attribute_map[attr]: {} if attr == "status" else self.ref(type_name)  # written by KServe
            for attr, type_name in cls.openapi_types.items()
        }
        return self._object(properties, list(_KSERVE_REQUIRED.get(cls.__name__, ())))


# Fields the KServe CRD requires that the SDK's generated models do not say are required.
_KSERVE_REQUIRED = {"V1beta1InferenceService": (), "V1beta1InferenceServiceSpec": ("predictor",)}


def _kserve_schema() -> dict[str, Any]:
    import kserve.models

    types = _OpenApiTypes({}, kserve.models)
    root = types.ref("V1beta1InferenceService")
    return {**root, "$defs": types.defs}


def _transcribed_schema(file_name: str) -> dict[str, Any]:
    text = (resources.files("cxops.deploy") / "schemas" / file_name).read_text()
    described = json.loads(text)
    types = _OpenApiTypes(described["types"])
    root = types.ref(described["root"])
    return {**root, "$defs": types.defs}


def _strict(node: Any) -> None:
    """Close every object that lists its properties (pydantic leaves extra fields open)."""
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _strict(value)
    elif isinstance(node, list):
        for value in node:
            _strict(value)


def _argo_schema(kind: str) -> dict[str, Any]:
    from cxops.monitoring import _hera  # imports Hera without leaking its YAML representers

    model = _hera.WorkflowModel if kind == "Workflow" else _hera.CronWorkflowModel
    schema = model.model_json_schema(by_alias=True)
    _strict(schema)
    return schema


@cache
def _cached_schema(api_version: str, kind: str) -> str:
    source = CUSTOM_KINDS[(api_version, kind)]
    if source == "kserve":
        schema = _kserve_schema()
    elif source == "argo":
        schema = _argo_schema(kind)
    else:
        schema = _transcribed_schema(source)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://kubernetes.io/cxops/{kind.lower()}.json"
    return json.dumps(schema)


def custom_schema(api_version: str, kind: str) -> dict[str, Any]:
    """The JSON Schema of a custom resource CXOps renders; DeployError for a kind without one."""
    if (api_version, kind) not in CUSTOM_KINDS:
        known = ", ".join(f"{k} ({v})" for v, k in sorted(CUSTOM_KINDS))
        raise DeployError(f"no schema for custom resource {kind} ({api_version}); known: {known}")
    return json.loads(_cached_schema(api_version, kind))
