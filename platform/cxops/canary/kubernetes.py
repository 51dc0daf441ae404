"""Canary releases on Kubernetes: a model's KServe 0.20 InferenceService, changed in place.

Each CXOps model is served as an `InferenceService` (serving.kserve.io/v1beta1) whose predictor runs the
model's BentoML image (`spec.predictor.containers`) or names a model in storage (`spec.predictor.model`).
How KServe splits traffic depends on the deployment mode, read from `status.deploymentMode` (the mode
the controller resolved) or else the `serving.kserve.io/deploymentMode` annotation:

- Serverless (Knative). `spec.predictor.canaryTrafficPercent` sends that share to the latest ready
  revision (the candidate) and the rest to the last rolled-out one. Start = new image + percentage;
  promote = remove the field (the latest revision takes 100 %); roll back = percentage 0 (the previous
  revision takes 100 %, the candidate revision stays pinned at 0 %). The split is read from
  `status.components.predictor.traffic`.
- Standard (called RawDeployment before KServe 0.16). KServe ignores `canaryTrafficPercent` here.
  KServe 0.20 added `spec.canary` (kserve/kserve#5672): named canary predictors, each its own Deployment
  and Service `{isvc}-{name}-predictor`; KServe splits the replicas by `trafficPercent` and weights the
  route backends it manages (Gateway API HTTPRoute, OpenShift Route) by it. Start = one canary entry;
  promote = the stable predictor takes the canary's name and image and the entry goes (KServe retargets
  the stable name at the canary's Deployment, no restart); roll back = remove the entry. A cluster whose CRD
  predates 0.20 rejects `spec.canary` (see below) rather than ignoring it.
- ModelMesh, or a mode that cannot be told: refused with `CanaryModeError`.

Every change is a JSON merge patch (RFC 7386, `application/merge-patch+json`), chosen over the others:
custom resources do not support strategic merge patch (the API server answers 415); a JSON patch
(RFC 6902) needs exact list indices and fails on `remove` of a missing field, whereas a merge patch
says "set these, delete those (null)" and replaces lists whole, which is what the backend means for
`containers` and `spec.canary`; server-side apply would take field ownership from whoever applied the
InferenceService (kubectl, Helm, GitOps) and need forced conflicts. Each patch carries the
`metadata.resourceVersion` that was read, so a concurrent change makes the API server answer 409
instead of being overwritten, and `fieldValidation=Strict`, so an unknown field is an error (400)
instead of being pruned silently.

The header is set on each request rather than left to the client: kubernetes 30.1.0's
`CustomObjectsApi.patch_namespaced_custom_object` hard-codes `application/merge-patch+json` with no way
to choose per call, older clients sent `application/json-patch+json`, and the client's REST layer turns
that into `application/strategic-merge-patch+json` for a dict body, which custom resources reject.
`ApiClient.default_headers` override per-call headers, so an `api_client` with a default
Content-Type is refused.

No cluster is involved in this code's tests (none is available to them): a fake API server on loopback
records the requests (paths, headers, bodies) and answers with hand-written objects shaped like KServe
0.20's. What KServe and Knative then do with a patch is not exercised.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from cxops.canary.errors import (
    CanaryBackendError,
    CanaryConflictError,
    CanaryError,
    CanaryInvalidError,
    CanaryModeError,
    CanaryNotFoundError,
    CanaryPermissionError,
)

__all__ = [
    "GROUP",
    "MERGE_PATCH",
    "MODE_ANNOTATION",
    "PLURAL",
    "VERSION",
    "CanaryStatus",
    "Condition",
    "DeploymentMode",
    "KServeCanaryBackend",
    "TrafficTarget",
    "canary_name",
    "deployment_mode",
    "parse_status",
]

GROUP = "serving.kserve.io"
VERSION = "v1beta1"
PLURAL = "inferenceservices"
MERGE_PATCH = "application/merge-patch+json"
MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
SERVING_CONTAINER = "kserve-container"  # the container KServe treats as the model server
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_MAX_NAME = 63  # a Service name is a DNS label


class DeploymentMode(StrEnum):
    SERVERLESS = "Serverless"
    STANDARD = "Standard"


_MODES = {"serverless": DeploymentMode.SERVERLESS, "standard": DeploymentMode.STANDARD}
# The names before KServe 0.16 (RawDeployment) and since (Knative for Serverless), all still accepted.
_MODES["rawdeployment"] = DeploymentMode.STANDARD
_MODES["knative"] = DeploymentMode.SERVERLESS


@dataclass(frozen=True)
class TrafficTarget:
    """Where a share of the traffic goes: a Knative revision, or (Standard) a predictor Deployment."""

    revision: str
    percent: int
    latest: bool  # the candidate (Serverless: latestRevision), or the only target
    tag: str | None = None
    url: str | None = None
    ready: bool | None = None


@dataclass(frozen=True)
class Condition:
    type: str
    status: str
    reason: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class CanaryStatus:
    """A canary as KServe reports it. `canary_percent` is the requested share, None when no canary."""

    model: str
    namespace: str
    mode: DeploymentMode
    ready: bool
    url: str | None
    canary_percent: int | None
    traffic: tuple[TrafficTarget, ...]
    conditions: tuple[Condition, ...]
    generation: int | None = None
    observed_generation: int | None = None
    latest_created_revision: str | None = None
    latest_ready_revision: str | None = None
    latest_rolledout_revision: str | None = None
    previous_rolledout_revision: str | None = None

    @property
    def settled(self) -> bool:
        """The controller has acted on the latest spec (poll until True after a change)."""
        return (
            self.generation is not None
            and self.observed_generation is not None
            and self.observed_generation >= self.generation
        )

    @property
    def candidate(self) -> TrafficTarget | None:
        return next((t for t in self.traffic if t.latest), None) if len(self.traffic) > 1 else None

    @property
    def stable(self) -> TrafficTarget | None:
        return next((t for t in self.traffic if not t.latest), None)


def _where(isvc: dict[str, Any]) -> str:
    meta = isvc.get("metadata") or {}
    return f"InferenceService '{meta.get('name')}' in namespace '{meta.get('namespace')}'"


def deployment_mode(isvc: dict[str, Any]) -> DeploymentMode:
    """The KServe mode of an InferenceService; CanaryModeError for ModelMesh or an unknown one."""
    annotations = (isvc.get("metadata") or {}).get("annotations") or {}
    raw = (isvc.get("status") or {}).get("deploymentMode") or annotations.get(MODE_ANNOTATION)
    if not raw:
        raise CanaryModeError(
            f"{_where(isvc)} reports no deployment mode (no status.deploymentMode yet, no "
            f"'{MODE_ANNOTATION}' annotation); wait for KServe to reconcile it or set the annotation"
        )
    mode = _MODES.get(str(raw).lower())
    if mode is None:
        raise CanaryModeError(
            f"{_where(isvc)} runs in KServe deployment mode '{raw}', which has no canary traffic split; "
            "canary releases need Serverless (canaryTrafficPercent) or Standard/RawDeployment "
            "(spec.canary, KServe 0.20 or later): redeploy the model in one of those modes"
        )
    return mode


def canary_name(model: str, candidate: str) -> str:
    """The predictor name of a Standard-mode canary: stable for a candidate, a valid Service name."""
    name = "cx-" + hashlib.sha256(candidate.encode()).hexdigest()[:7]
    if len(f"{model}-{name}-predictor") > _MAX_NAME:
        raise CanaryInvalidError(
            f"model name '{model}' is too long for a Standard-mode canary: the Service "
            f"'{model}-{name}-predictor' would exceed {_MAX_NAME} characters; use a name of at most "
            f"{_MAX_NAME - len(name) - len('--predictor')} characters"
        )
    return name


def _service(model: str, predictor_name: str | None) -> str:
    return f"{model}-{predictor_name}-predictor" if predictor_name else f"{model}-predictor"


def _conditions(status: dict[str, Any]) -> tuple[Condition, ...]:
    return tuple(
        Condition(str(c.get("type")), str(c.get("status")), c.get("reason"), c.get("message"))
        for c in status.get("conditions") or []
    )


def _is_true(conditions: tuple[Condition, ...], kind: str) -> bool | None:
    found = next((c for c in conditions if c.type == kind), None)
    return None if found is None else found.status == "True"


def parse_status(isvc: dict[str, Any]) -> CanaryStatus:
    """Read the canary state of an InferenceService object as the Kubernetes API returns it."""
    mode = deployment_mode(isvc)
    meta = isvc.get("metadata") or {}
    spec = isvc.get("spec") or {}
    predictor = spec.get("predictor") or {}
    status = isvc.get("status") or {}
    components = (status.get("components") or {}).get("predictor") or {}
    conditions = _conditions(status)
    model = str(meta.get("name"))
    if mode is DeploymentMode.SERVERLESS:
        percent = predictor.get("canaryTrafficPercent")
        traffic = tuple(
            TrafficTarget(
                revision=str(t.get("revisionName", "")),
                percent=int(t.get("percent") or 0),
                latest=bool(t.get("latestRevision")),
                tag=t.get("tag"),
                url=t.get("url"),
            )
            for t in components.get("traffic") or []
        )
    else:
        canaries = spec.get("canary") or []
        percent = int(canaries[0].get("trafficPercent") or 0) if canaries else None
        observed = {s.get("name"): s for s in status.get("canaryStatuses") or []}
        targets = []
        for entry in canaries:
            name = (entry.get("predictor") or {}).get("name")
            seen = observed.get(name) or {}
            share = int(seen.get("trafficPercent", entry.get("trafficPercent") or 0))
            ready = bool(seen["ready"]) if "ready" in seen else None
            targets.append(TrafficTarget(_service(model, name), share, True, name, None, ready))
        stable = TrafficTarget(
            revision=_service(model, predictor.get("name")),
            percent=100 - sum(t.percent for t in targets),
            latest=not targets,
            url=components.get("url"),
            ready=_is_true(conditions, "PredictorReady"),
        )
        traffic = (stable, *targets)
    return CanaryStatus(
        model=model,
        namespace=str(meta.get("namespace")),
        mode=mode,
        ready=bool(_is_true(conditions, "Ready")),
        url=status.get("url"),
        canary_percent=None if percent is None else int(percent),
        traffic=traffic,
        conditions=conditions,
        generation=meta.get("generation"),
        observed_generation=status.get("observedGeneration"),
        latest_created_revision=components.get("latestCreatedRevision"),
        latest_ready_revision=components.get("latestReadyRevision"),
        latest_rolledout_revision=components.get("latestRolledoutRevision"),
        previous_rolledout_revision=components.get("previousRolledoutRevision"),
    )


def _check_percent(percent: object) -> int:
    if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
        raise CanaryInvalidError(f"canary percentage must be a whole number from 0 to 100, got {percent!r}")
    return percent


def _check_name(kind: str, value: str) -> str:
    if not isinstance(value, str) or len(value) > _MAX_NAME or not _DNS_LABEL.match(value):
        raise CanaryInvalidError(
            f"{kind} {value!r} is not a Kubernetes name (lower-case letters, digits and '-', at most "
            f"{_MAX_NAME} characters, starting and ending with a letter or digit)"
        )
    return value


def _candidate_predictor(isvc: dict[str, Any], candidate: str, *, allow_same: bool = False) -> dict[str, Any]:
    """The predictor fields that run the candidate: a copy of the stable ones with the image/URI swapped.

    An image goes into the serving container (`kserve-container`, or the only one); a URI (anything
    with "://", e.g. s3://, gs://, pvc://, oci://) into `model.storageUri`.
    """
    if not isinstance(candidate, str) or not candidate.strip() or any(ch.isspace() for ch in candidate):
        raise CanaryInvalidError(f"candidate must be an image reference or a storage URI, got {candidate!r}")
    predictor = (isvc.get("spec") or {}).get("predictor") or {}
    is_uri = "://" in candidate
    if predictor.get("containers"):
        if is_uri:
            raise CanaryInvalidError(
                f"{_where(isvc)} runs a container predictor; pass the candidate's image reference, "
                f"not the storage URI {candidate!r}"
            )
        containers = copy.deepcopy(predictor["containers"])
        named = [c for c in containers if c.get("name") == SERVING_CONTAINER]
        if not named and len(containers) != 1:
            raise CanaryInvalidError(
                f"{_where(isvc)} has {len(containers)} predictor containers and none named "
                f"'{SERVING_CONTAINER}'; name the model server's container '{SERVING_CONTAINER}'"
            )
        target = (named or containers)[0]
        if target.get("image") == candidate and not allow_same:
            raise CanaryInvalidError(f"{_where(isvc)} already serves {candidate}; nothing to compare it with")
        target["image"] = candidate
        return {"containers": containers}
    if predictor.get("model"):
        if not is_uri:
            raise CanaryInvalidError(
                f"{_where(isvc)} serves a model from storage (spec.predictor.model); pass the candidate's "
                f"storage URI (for example s3://...), not {candidate!r}"
            )
        model = copy.deepcopy(predictor["model"])
        if model.get("storageUri") == candidate and not allow_same:
            raise CanaryInvalidError(f"{_where(isvc)} already serves {candidate}; nothing to compare it with")
        model["storageUri"] = candidate
        return {"model": model}
    raise CanaryInvalidError(
        f"{_where(isvc)} has neither spec.predictor.containers nor spec.predictor.model; "
        "deploy the model with one of them first"
    )


def _status_message(error: ApiException) -> str:
    """The `message` of the Status object the API server sends with an error, else the HTTP reason."""
    try:
        body = json.loads(error.body) if error.body else {}
    except (TypeError, ValueError):
        body = {}
    message = body.get("message") if isinstance(body, dict) else None
    return str(message or error.reason or "no message")


class KServeCanaryBackend:
    """Start, move, promote, roll back and read a model's canary on its KServe InferenceService.

    `model` is the InferenceService name; `namespace` is where CXOps serves. Without `api_client` the
    kubeconfig (or, inside a pod, the service account) is loaded. The identity needs the verbs get and
    patch on inferenceservices.serving.kserve.io in the namespace. Each change returns the object's
    state as stored right after the change: KServe has not acted on it yet, so poll `status()` until
    `settled`. A 409 is not retried: the caller decides whether to read again and repeat.
    """

    def __init__(
        self, namespace: str, api_client: client.ApiClient | None = None, *, request_timeout: float = 30.0
    ) -> None:
        self.namespace = _check_name("namespace", namespace)
        self.request_timeout = request_timeout
        if api_client is None:
            api_client = _default_client()
        if any(key.lower() == "content-type" for key in api_client.default_headers):
            raise CanaryInvalidError(
                "api_client has a default Content-Type header, which would replace the merge-patch content "
                "type of every PATCH; remove it from api_client.default_headers"
            )
        self.api = client.CustomObjectsApi(api_client)

    def path(self, model: str) -> str:
        """The API path of a model's InferenceService."""
        return f"/apis/{GROUP}/{VERSION}/namespaces/{self.namespace}/{PLURAL}/{model}"

    # -- operations ------------------------------------------------------------------------------

    def status(self, model: str) -> CanaryStatus:
        return parse_status(self._get(model))

    def start(self, model: str, image_or_storage_uri: str, percent: int) -> CanaryStatus:
        """Run the candidate beside the stable version and send it `percent` % of the traffic."""
        percent = _check_percent(percent)
        isvc = self._get(model)
        mode = deployment_mode(isvc)
        predictor = isvc["spec"]["predictor"]
        fields = _candidate_predictor(isvc, image_or_storage_uri)
        if mode is DeploymentMode.SERVERLESS:
            current = predictor.get("canaryTrafficPercent")
            if current:
                raise CanaryConflictError(
                    f"{_where(isvc)} already has a canary at {current} %; promote or roll it back first"
                )
            spec: dict[str, Any] = {"predictor": {**fields, "canaryTrafficPercent": percent}}
        else:
            self._no_canary_yet(isvc)
            name = canary_name(model, image_or_storage_uri)
            if name == predictor.get("name"):
                raise CanaryConflictError(
                    f"{_where(isvc)}: its stable predictor is already named '{name}', the name of this "
                    "candidate's canary; the stable version was promoted from it: nothing to compare"
                )
            spec = {"canary": [{"trafficPercent": percent, "predictor": {"name": name, **fields}}]}
        return parse_status(self._patch(model, self._body(isvc, spec), "start a canary on"))

    def set_percent(self, model: str, percent: int) -> CanaryStatus:
        """Move the candidate's share of the traffic to `percent` %."""
        percent = _check_percent(percent)
        isvc = self._get(model)
        if deployment_mode(isvc) is DeploymentMode.SERVERLESS:
            self._serverless_canary(isvc, "change its percentage")
            spec: dict[str, Any] = {"predictor": {"canaryTrafficPercent": percent}}
        else:
            entry = copy.deepcopy(self._standard_canary(isvc, "change its percentage"))
            entry["trafficPercent"] = percent
            spec = {"canary": [entry]}  # a merge patch replaces the list whole
        return parse_status(self._patch(model, self._body(isvc, spec), "set the canary percentage of"))

    def promote(self, model: str) -> CanaryStatus:
        """Make the candidate the stable version (100 %). Refused while the candidate is not ready."""
        isvc = self._get(model)
        current = parse_status(isvc)
        if current.mode is DeploymentMode.SERVERLESS:
            self._serverless_canary(isvc, "promote it")
            created, ready = current.latest_created_revision, current.latest_ready_revision
            if created and created != ready:
                raise CanaryConflictError(
                    f"{_where(isvc)}: the candidate revision '{created}' is not ready (latest ready: "
                    f"'{ready}'); wait for it, or roll back"
                )
            spec: dict[str, Any] = {"predictor": {"canaryTrafficPercent": None}}
        else:
            entry = self._standard_canary(isvc, "promote it")
            name = entry["predictor"]["name"]
            seen = next((t for t in current.traffic if t.tag == name), None)
            if seen is None or not seen.ready:
                raise CanaryConflictError(
                    f"{_where(isvc)}: the canary '{name}' is not ready (status.canaryStatuses); wait for "
                    "it, or roll back"
                )
            stable = {key: value for key, value in entry["predictor"].items() if key != "name"}
            spec = {"predictor": {**stable, "name": name}, "canary": None}
        return parse_status(self._patch(model, self._body(isvc, spec), "promote the canary of"))

    def rollback(self, model: str) -> CanaryStatus:
        """Send all traffic back to the stable version."""
        isvc = self._get(model)
        if deployment_mode(isvc) is DeploymentMode.SERVERLESS:
            self._serverless_canary(isvc, "roll it back")
            spec: dict[str, Any] = {"predictor": {"canaryTrafficPercent": 0}}
        else:
            self._standard_canary(isvc, "roll it back")
            spec = {"canary": None}
        return parse_status(self._patch(model, self._body(isvc, spec), "roll back the canary of"))

    def pin(self, model: str, image_or_storage_uri: str) -> CanaryStatus:
        """Serve `image_or_storage_uri` with all the traffic and no canary: a rollback to an earlier
        production version. A canary in progress is dropped with it."""
        isvc = self._get(model)
        mode = deployment_mode(isvc)
        fields = _candidate_predictor(isvc, image_or_storage_uri, allow_same=True)
        if mode is DeploymentMode.SERVERLESS:
            spec: dict[str, Any] = {"predictor": {**fields, "canaryTrafficPercent": None}}
        else:
            spec = {"predictor": fields, "canary": None}
        return parse_status(self._patch(model, self._body(isvc, spec), "pin a version on"))

    # -- state checks ----------------------------------------------------------------------------

    @staticmethod
    def _body(isvc: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
        """A merge patch of `spec`, conditional on the resourceVersion that was read."""
        version = (isvc.get("metadata") or {}).get("resourceVersion")
        metadata = {"resourceVersion": version} if version else {}
        return {"metadata": metadata, "spec": spec} if metadata else {"spec": spec}

    @staticmethod
    def _serverless_canary(isvc: dict[str, Any], action: str) -> int:
        percent = isvc["spec"]["predictor"].get("canaryTrafficPercent")
        if percent is None:
            raise CanaryConflictError(
                f"{_where(isvc)} has no canary (no spec.predictor.canaryTrafficPercent) to {action}; "
                "start one first"
            )
        return int(percent)

    @staticmethod
    def _standard_canary(isvc: dict[str, Any], action: str) -> dict[str, Any]:
        canaries = isvc["spec"].get("canary") or []
        if not canaries:
            raise CanaryConflictError(
                f"{_where(isvc)} has no canary (spec.canary) to {action}; start one first"
            )
        if len(canaries) > 1:
            names = ", ".join(str((c.get("predictor") or {}).get("name")) for c in canaries)
            raise CanaryConflictError(
                f"{_where(isvc)} has {len(canaries)} canaries ({names}); CXOps manages one at a time: "
                "remove the others from spec.canary first"
            )
        return canaries[0]

    @staticmethod
    def _no_canary_yet(isvc: dict[str, Any]) -> None:
        canaries = isvc["spec"].get("canary") or []
        if canaries:
            names = ", ".join(str((c.get("predictor") or {}).get("name")) for c in canaries)
            raise CanaryConflictError(
                f"{_where(isvc)} already has a canary ({names}); promote or roll it back first"
            )

    # -- API calls -------------------------------------------------------------------------------

    def _get(self, model: str) -> dict[str, Any]:
        _check_name("model", model)
        try:
            found = self.api.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, model, _request_timeout=self.request_timeout
            )
        except ApiException as error:
            raise self._error(error, model, "read") from error
        except HTTPError as error:
            raise self._unreachable(error) from error
        if not isinstance(found.get("spec"), dict) or not isinstance(found["spec"].get("predictor"), dict):
            raise CanaryBackendError(
                f"{self._where(model)} came back without spec.predictor; check that it is KServe's"
            )
        return found

    def _patch(self, model: str, body: dict[str, Any], action: str) -> dict[str, Any]:
        try:
            return self.api.api_client.call_api(
                f"/apis/{GROUP}/{VERSION}/namespaces/{{namespace}}/{PLURAL}/{{name}}",
                "PATCH",
                path_params={"namespace": self.namespace, "name": model},
                query_params=[("fieldValidation", "Strict")],
                header_params={"Accept": "application/json", "Content-Type": MERGE_PATCH},
                body=body,
                response_type="object",
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
                _preload_content=True,
                _request_timeout=self.request_timeout,
            )
        except ApiException as error:
            raise self._error(error, model, action) from error
        except HTTPError as error:
            raise self._unreachable(error) from error

    def _where(self, model: str) -> str:
        return f"InferenceService '{model}' in namespace '{self.namespace}'"

    def _unreachable(self, error: Exception) -> CanaryBackendError:
        host = self.api.api_client.configuration.host
        return CanaryBackendError(
            f"cannot reach the Kubernetes API at {host} ({type(error).__name__}: {error}); check the "
            "kubeconfig or the network",
            status_code=503,
        )

    def _error(self, error: ApiException, model: str, action: str) -> CanaryError:
        """Map the API server's answer to a canary error that names the object and the fix."""
        where, message, code = self._where(model), _status_message(error), error.status
        if code == 404:
            return CanaryNotFoundError(
                f"{where} does not exist (404 on {self.path(model)}); deploy the model there first, or "
                "point the backend at the namespace that serves it"
            )
        if code == 403 and "admission webhook" in message:
            return CanaryInvalidError(f"KServe's admission webhook refused to {action} {where}: {message}")
        if code in (401, 403):
            return CanaryPermissionError(
                f"not allowed to {action} {where} ({code}: {message}); grant the platform's identity the "
                f"verbs get and patch on {PLURAL}.{GROUP} in namespace '{self.namespace}' "
                "(Role + RoleBinding)",
                status_code=code,
            )
        if code == 409:
            return CanaryConflictError(
                f"{where} changed while trying to {action} it ({message}); read its status and try again"
            )
        if code in (400, 422):
            hint = ""
            unknown = "unknown field" in message or "not declared in schema" in message
            if unknown and "canary" in message:
                hint = (
                    "; the cluster's InferenceService CRD has no spec.canary, which KServe 0.20 added for "
                    "Standard mode: upgrade KServe, or serve the model in Serverless mode"
                )
            return CanaryInvalidError(
                f"the Kubernetes API refused to {action} {where} ({code}: {message}){hint}"
            )
        return CanaryBackendError(
            f"the Kubernetes API answered {code} {error.reason} when trying to {action} {where}: {message}; "
            "retry later",
            status_code=503 if code in (502, 503, 504) else 502,
        )


def _default_client() -> client.ApiClient:
    from cxops.kubeclient import ConfigException, load_api_client

    try:
        return load_api_client()
    except ConfigException as error:
        raise CanaryBackendError(
            f"no Kubernetes configuration ({error}); run with a kubeconfig, inside the cluster, or pass "
            "api_client",
            status_code=503,
        ) from error
