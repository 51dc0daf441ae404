"""Training as a KubeRay RayJob (ray.io/v1): one Ray cluster per training run, torn down when it ends.

`train_on_rayjob` is the pipeline's train step with `CXOPS_TRAINING_BACKEND=rayjob`: it stages the entity
frame under `<CXOPS_STAGING_URI>/rayjobs/<job>/inputs/`, submits a RayJob whose entrypoint
(`python -m cxops.training.remote`) runs the same training step on the job's cluster, waits for it, and
downloads the model, the splits and the summary the run wrote under `.../outputs/` into the step's local
paths (the KFP launcher then uploads them as usual).

The cluster: a head node that takes no Ray work (`num-cpus: 0`; it runs the job's driver) and one worker
group of `spec.trainer.scaling.num_workers` pods, each with the spec's CPUs and memory and, when the spec
asks for GPUs, one `nvidia.com/gpu` and the toleration GPU nodes are usually tainted with. Every pod runs
the platform image under the `cxops-pipeline` service account with the platform settings (ConfigMap and
Secret `cxops-platform`), as a non-root user with no privilege escalation, no capabilities and the
runtime's seccomp profile, with memory-backed /dev/shm for Ray's object store.

`RayJobClient` talks to the Kubernetes API (`CustomObjectsApi`): create, read the status KubeRay writes
(`status.jobDeploymentStatus`, `status.jobStatus`, `status.message`), delete. Its identity needs the verbs
create, get and delete on rayjobs.ray.io in the namespace.
"""

from __future__ import annotations

import json
import re
import shlex
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from cxops.config import Settings
from cxops.errors import ConflictError, CXOpsError, InvalidInputError, NotFoundError
from cxops.monitoring.workflows import SERVICE_ACCOUNT, SETTINGS_SOURCE, label_value
from cxops.specs import ModelSpec, load_spec
from cxops.training import staging
from cxops.training.remote import StagedRun

__all__ = [
    "ACTIVE_DEADLINE_S",
    "GROUP",
    "KIND",
    "PLURAL",
    "VERSION",
    "RayJobClient",
    "RayJobStatus",
    "parse_status",
    "rayjob_manifest",
    "rayjob_name",
    "train_on_rayjob",
]

GROUP = "ray.io"
VERSION = "v1"
PLURAL = "rayjobs"
KIND = "RayJob"

ACTIVE_DEADLINE_S = 4 * 3600
"""KubeRay stops a RayJob still running after this long (cluster start-up included)."""
TTL_AFTER_FINISHED_S = 600
"""The finished job's Ray cluster stays this long (logs, dashboard), then KubeRay deletes it."""
RUN_AS_USER = 10001
NAME_PREFIX = "cxops-train-"
MAX_NAME = 47
"""KubeRay's limit on a RayJob name: its RayCluster is named `<job>-<5 characters>`, at most 53."""
WORKER_GROUP = "workers"
GPU_RESOURCE = "nvidia.com/gpu"

PART_OF = "app.kubernetes.io/part-of"
COMPONENT = "app.kubernetes.io/component"
MODEL_LABEL = "cxops.io/model"
STAGING_ANNOTATION = "cxops.io/staging-uri"

HEAD_RESOURCES = {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}
"""The head runs the job's driver (feature retrieval, splits, saving the model), no Ray tasks."""
SUBMITTER_RESOURCES = {
    "requests": {"cpu": "500m", "memory": "200Mi"},
    "limits": {"cpu": "1", "memory": "1Gi"},
}

_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_NOT_NAME = re.compile(r"[^a-z0-9-]+")

Progress = Callable[[str], Any]


# -- names and the manifest ---------------------------------------------------------------------------


def rayjob_name(model: str, run_id: str | None = None) -> str:
    """`cxops-train-<model>-<8 hex>`: a DNS-1035 label short enough for KubeRay's derived names. A long
    model name is cut short (the label `cxops.io/model` keeps it whole)."""
    suffix = _NOT_NAME.sub("-", (run_id or uuid.uuid4().hex[:8]).lower()).strip("-")
    stem = _NOT_NAME.sub("-", model.lower()).strip("-")
    if not stem or not suffix:
        raise InvalidInputError(f"cannot name a RayJob after model {model!r} and run id {run_id!r}")
    room = MAX_NAME - len(NAME_PREFIX) - len(suffix) - 1
    if room < 1:
        raise InvalidInputError(
            f"run id {run_id!r} is too long for a RayJob name (at most {MAX_NAME} characters)"
        )
    name = f"{NAME_PREFIX}{stem[:room].rstrip('-')}-{suffix}"
    if not _DNS_LABEL.match(name):
        raise InvalidInputError(
            f"RayJob name {name!r} is not a DNS-1035 label; use a model name of a-z, 0-9, '-'"
        )
    return name


def _cpu_quantity(cpus: float) -> str:
    return str(int(cpus)) if float(cpus).is_integer() else f"{round(cpus * 1000)}m"


def _labels(model: str) -> dict[str, str]:
    return {PART_OF: "cxops", COMPONENT: "training", MODEL_LABEL: label_value(model)}


def _container_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "fsGroup": RUN_AS_USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _ray_container(name: str, settings: Settings, resources: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "image": settings.platform_image,
        "imagePullPolicy": "IfNotPresent",
        # Without the platform settings the run would train against the embedded defaults (a throw-away
        # SQLite store, a local Feast) instead of the platform's stores.
        "envFrom": [{"configMapRef": {"name": SETTINGS_SOURCE}}, {"secretRef": {"name": SETTINGS_SOURCE}}],
        "env": [{"name": "RAY_USAGE_STATS_ENABLED", "value": "0"}],
        "resources": resources,
        "securityContext": _container_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, {"name": "dshm", "mountPath": "/dev/shm"}],
        **extra,
    }


def _pod_template(model: str, container: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "metadata": {"labels": _labels(model)},
        "spec": {
            "serviceAccountName": SERVICE_ACCOUNT,
            "securityContext": _pod_security(),
            "containers": [container],
            # Ray writes its session under /tmp; its object store lives in shared memory, which a
            # container otherwise gets only 64 MiB of.
            "volumes": [
                {"name": "tmp", "emptyDir": {}},
                {"name": "dshm", "emptyDir": {"medium": "Memory"}},
            ],
            **extra,
        },
    }


def rayjob_manifest(spec: ModelSpec, settings: Settings, *, name: str, staging: str) -> dict[str, Any]:
    """The RayJob that trains `spec`'s model with the inputs staged under `staging` (the run's prefix,
    `<staging_uri>/rayjobs/<name>`), in `settings.rayjob_namespace`."""
    import ray

    if not _DNS_LABEL.match(name) or len(name) > MAX_NAME:
        raise InvalidInputError(
            f"RayJob name {name!r} is not a DNS-1035 label of at most {MAX_NAME} characters; "
            "use rayjob_name()"
        )
    scaling = spec.trainer.scaling
    workers = max(1, scaling.num_workers)  # 0 means "train in-process" locally; a RayJob needs a worker
    worker_resources: dict[str, dict[str, str]] = {
        "requests": {"cpu": _cpu_quantity(scaling.cpus_per_worker), "memory": scaling.memory_per_worker},
        "limits": {"cpu": _cpu_quantity(scaling.cpus_per_worker), "memory": scaling.memory_per_worker},
    }
    gpu_scheduling: dict[str, Any] = {}
    if scaling.use_gpu:
        worker_resources["requests"][GPU_RESOURCE] = "1"
        worker_resources["limits"][GPU_RESOURCE] = "1"
        gpu_scheduling["tolerations"] = [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
    head = _ray_container(
        "ray-head",
        settings,
        HEAD_RESOURCES,
        ports=[
            {"name": "gcs-server", "containerPort": 6379},
            {"name": "dashboard", "containerPort": 8265},
            {"name": "client", "containerPort": 10001},
        ],
    )
    submitter = {
        # KubeRay fills in the `ray job submit` command of the first container.
        "name": "ray-job-submitter",
        "image": settings.platform_image,
        "imagePullPolicy": "IfNotPresent",
        "resources": SUBMITTER_RESOURCES,
        "securityContext": _container_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    submitter_template = {
        "metadata": {"labels": _labels(spec.name)},
        "spec": {
            "serviceAccountName": SERVICE_ACCOUNT,
            "securityContext": _pod_security(),
            "restartPolicy": "Never",
            "containers": [submitter],
            "volumes": [{"name": "tmp", "emptyDir": {}}],
        },
    }
    entrypoint = shlex.join(
        ["python", "-m", "cxops.training.remote", "--model", spec.name, "--staging", staging]
    )
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {
            "name": name,
            "namespace": settings.rayjob_namespace,
            "labels": _labels(spec.name),
            "annotations": {STAGING_ANNOTATION: staging},
        },
        "spec": {
            "entrypoint": entrypoint,
            "submissionMode": "K8sJobMode",
            "shutdownAfterJobFinishes": True,
            "ttlSecondsAfterFinished": TTL_AFTER_FINISHED_S,
            "activeDeadlineSeconds": ACTIVE_DEADLINE_S,
            "backoffLimit": 0,
            "submitterPodTemplate": submitter_template,
            "rayClusterSpec": {
                "rayVersion": ray.__version__,
                "enableInTreeAutoscaling": False,
                "headGroupSpec": {
                    # No Ray work on the head: training goes to the workers that hold the requested
                    # CPUs and GPUs; the head runs the driver.
                    "rayStartParams": {"num-cpus": "0", "dashboard-host": "0.0.0.0"},
                    "template": _pod_template(spec.name, head),
                },
                "workerGroupSpecs": [
                    {
                        "groupName": WORKER_GROUP,
                        "replicas": workers,
                        "minReplicas": workers,
                        "maxReplicas": workers,
                        "rayStartParams": {},
                        "template": _pod_template(
                            spec.name,
                            _ray_container("ray-worker", settings, worker_resources),
                            **gpu_scheduling,
                        ),
                    }
                ],
            },
        },
    }


# -- status -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RayJobStatus:
    """A RayJob as KubeRay reports it."""

    name: str
    namespace: str
    deployment_status: str
    """`status.jobDeploymentStatus`: "" (new), Initializing, Running, Complete, Failed, Suspending,
    Suspended, Retrying, Waiting."""
    job_status: str
    """`status.jobStatus`, the Ray job's: "", PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED."""
    message: str = ""
    reason: str = ""
    ray_cluster: str = ""
    dashboard_url: str = ""

    @property
    def succeeded(self) -> bool:
        return self.job_status == "SUCCEEDED"

    @property
    def failed(self) -> bool:
        """Over without success. Older KubeRay reports a failed job as deployment `Complete`."""
        return not self.succeeded and (
            self.deployment_status in ("Failed", "Complete") or self.job_status in ("FAILED", "STOPPED")
        )

    def describe(self) -> str:
        text = f"deployment {self.deployment_status or 'New'}, Ray job {self.job_status or 'not submitted'}"
        if self.reason:
            text += f" ({self.reason})"
        return text + (f": {self.message}" if self.message else "")

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def parse_status(rayjob: dict[str, Any]) -> RayJobStatus:
    """The status of a RayJob object as the Kubernetes API returns it."""
    meta = rayjob.get("metadata") or {}
    status = rayjob.get("status") or {}
    return RayJobStatus(
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace", "")),
        deployment_status=str(status.get("jobDeploymentStatus") or ""),
        job_status=str(status.get("jobStatus") or ""),
        message=str(status.get("message") or ""),
        reason=str(status.get("reason") or ""),
        ray_cluster=str(status.get("rayClusterName") or ""),
        dashboard_url=str(status.get("dashboardURL") or ""),
    )


# -- the API client -----------------------------------------------------------------------------------


def _status_message(error: ApiException) -> tuple[str, dict[str, Any]]:
    """The `message` and `details` of the Status object the API server sends with an error."""
    try:
        body = json.loads(error.body) if error.body else {}
    except (TypeError, ValueError):
        body = {}
    if not isinstance(body, dict):
        body = {}
    return str(body.get("message") or error.reason or "no message"), dict(body.get("details") or {})


def _default_client() -> k8s.ApiClient:
    from cxops.kubeclient import ConfigException, load_api_client

    try:
        return load_api_client()
    except ConfigException as error:
        raise CXOpsError(
            f"no Kubernetes configuration for submitting RayJobs ({error}); run with a kubeconfig, inside "
            "the cluster, or set CXOPS_TRAINING_BACKEND=ray",
            status_code=503,
        ) from error


class RayJobClient:
    """Submit, watch and delete RayJobs in `namespace`. Without `api_client` the kubeconfig (or, inside a
    pod, the service account) is loaded."""

    def __init__(
        self, namespace: str, api_client: k8s.ApiClient | None = None, *, request_timeout: float = 30.0
    ) -> None:
        if (
            not isinstance(namespace, str)
            or len(namespace) > 63
            or not re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", namespace)
        ):
            raise InvalidInputError(
                f"namespace {namespace!r} is not a Kubernetes namespace name; set CXOPS_RAYJOB_NAMESPACE"
            )
        self.namespace = namespace
        self.request_timeout = request_timeout
        self.api = k8s.CustomObjectsApi(api_client or _default_client())

    def path(self, name: str | None = None) -> str:
        base = f"/apis/{GROUP}/{VERSION}/namespaces/{self.namespace}/{PLURAL}"
        return f"{base}/{name}" if name else base

    def logs_hint(self, name: str) -> str:
        return (
            f"see `kubectl -n {self.namespace} logs job/{name}` (the submitter's log carries the training "
            f"output) and `kubectl -n {self.namespace} describe rayjob {name}`"
        )

    def submit(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Create the RayJob; returns the object as stored. Unknown fields are refused, not pruned."""
        name = str((manifest.get("metadata") or {}).get("name", ""))
        wanted = (manifest.get("metadata") or {}).get("namespace")
        if wanted not in (None, self.namespace):
            raise InvalidInputError(
                f"RayJob '{name}' is for namespace '{wanted}' but this client submits to '{self.namespace}'"
            )
        try:
            return self.api.create_namespaced_custom_object(
                GROUP,
                VERSION,
                self.namespace,
                PLURAL,
                manifest,
                field_validation="Strict",
                _request_timeout=self.request_timeout,
            )
        except ApiException as error:
            raise self._error(error, "create", name) from error
        except HTTPError as error:
            raise self._unreachable(error) from error

    def status(self, name: str) -> RayJobStatus:
        try:
            found = self.api.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, name, _request_timeout=self.request_timeout
            )
        except ApiException as error:
            raise self._error(error, "get", name) from error
        except HTTPError as error:
            raise self._unreachable(error) from error
        return parse_status(found)

    def delete(self, name: str) -> bool:
        """Delete the RayJob (its RayCluster and submitter Job go with it); False when it was not there."""
        try:
            self.api.delete_namespaced_custom_object(
                GROUP,
                VERSION,
                self.namespace,
                PLURAL,
                name,
                propagation_policy="Background",
                _request_timeout=self.request_timeout,
            )
        except ApiException as error:
            if error.status == 404 and _status_message(error)[1].get("name"):
                return False
            raise self._error(error, "delete", name) from error
        except HTTPError as error:
            raise self._unreachable(error) from error
        return True

    def wait(
        self,
        name: str,
        timeout_s: float = ACTIVE_DEADLINE_S + 600,
        poll_s: float = 10.0,
        progress: Progress | None = print,
    ) -> RayJobStatus:
        """Poll until the Ray job succeeds (returns its status) or fails (raises with KubeRay's message).
        After `timeout_s` the RayJob is deleted and a timeout error raised. `progress` hears each change."""
        deadline = time.monotonic() + timeout_s
        seen: tuple[str, str, str] | None = None
        while True:
            current = self.status(name)
            state = (current.deployment_status, current.job_status, current.message)
            if state != seen and progress is not None:
                progress(f"[rayjob] {name}: {current.describe()}")
            seen = state
            if current.succeeded:
                return current
            if current.failed:
                raise CXOpsError(
                    f"RayJob '{name}' in namespace '{self.namespace}' failed ({current.describe()}); "
                    f"{self.logs_hint(name)}"
                )
            if time.monotonic() >= deadline:
                deleted = self._delete_after_timeout(name)
                raise CXOpsError(
                    f"RayJob '{name}' in namespace '{self.namespace}' did not finish within {timeout_s:g} s "
                    f"(last: {current.describe()}); {deleted}. Check for pending pods (not enough CPUs, "
                    f"memory or GPUs: `kubectl -n {self.namespace} get pods -l {MODEL_LABEL}`), and "
                    f"{self.logs_hint(name)}",
                    status_code=504,
                )
            time.sleep(max(0.0, min(poll_s, deadline - time.monotonic())))

    def _delete_after_timeout(self, name: str) -> str:
        try:
            return "it was deleted" if self.delete(name) else "it was already gone"
        except CXOpsError as error:
            return f"deleting it failed too ({error}): delete it by hand"

    # -- errors -------------------------------------------------------------------------------------

    def _unreachable(self, error: Exception) -> CXOpsError:
        host = self.api.api_client.configuration.host
        return CXOpsError(
            f"cannot reach the Kubernetes API at {host} ({type(error).__name__}: {error}); check the "
            "kubeconfig or the network",
            status_code=503,
        )

    def _error(self, error: ApiException, verb: str, name: str) -> CXOpsError:
        """The API server's answer as an error that names the RayJob, its namespace and the fix."""
        message, details = _status_message(error)
        code = error.status
        where = f"RayJob '{name}' in namespace '{self.namespace}'"
        if code in (401, 403):
            return CXOpsError(
                f"not allowed to {verb} {where} ({code}: {message}); grant the platform's identity (service "
                f"account '{SERVICE_ACCOUNT}') the verbs create, get and delete on {PLURAL}.{GROUP} in "
                f"namespace '{self.namespace}' (Role + RoleBinding)",
                status_code=code,
            )
        if code == 404:
            if details.get("kind") == "namespaces":
                return NotFoundError(
                    f"namespace '{self.namespace}' does not exist ({message}); create it or set "
                    "CXOPS_RAYJOB_NAMESPACE to the namespace KubeRay runs training in"
                )
            if details.get("name"):
                return NotFoundError(f"{where} does not exist ({message}); it was deleted, or never created")
            return NotFoundError(
                f"KubeRay is not installed on this cluster: the API has no {PLURAL}.{GROUP}/{VERSION} "
                f"(404 on {self.path()}); install the KubeRay operator (1.1 or later, with its CRDs), or set "
                "CXOPS_TRAINING_BACKEND=ray"
            )
        if code == 409:
            return ConflictError(f"{where} already exists ({message}); submit under a new name")
        if code in (400, 422):
            hint = ""
            if "unknown field" in message:
                hint = "; the cluster's RayJob CRD predates a field this RayJob uses: upgrade KubeRay"
            return InvalidInputError(
                f"the Kubernetes API refused to {verb} {where} ({code}: {message}){hint}"
            )
        return CXOpsError(
            f"the Kubernetes API answered {code} {error.reason} to {verb} {where}: {message}; retry later",
            status_code=503 if code in (502, 503, 504) else 502,
        )


# -- the training step ---------------------------------------------------------------------------------


def train_on_rayjob(
    model: str,
    settings: Settings,
    *,
    entities_path: str,
    model_dir: str,
    test_path: str,
    train_path: str = "",
    client: RayJobClient | None = None,
    progress: Progress = print,
    timeout_s: float | None = None,
    poll_s: float = 10.0,
) -> dict[str, Any]:
    """The train step on a RayJob: stage the entity frame, run the job, fetch what it wrote into the
    given local paths. Returns the run's summary (as `cxops.lifecycle.steps.train` returns it, made JSON
    safe) with `rayjob` set to the job's name. The staged files are removed once fetched; a failed run's
    are kept under its prefix (named in the error) for a look."""
    if not settings.staging_uri:
        raise InvalidInputError(
            "training on a KubeRay RayJob needs a staging area that the pipeline step and the Ray cluster "
            "both reach: set CXOPS_STAGING_URI (e.g. s3://cxops-artifacts/staging, with CXOPS_S3_ENDPOINT "
            "for MinIO), or set CXOPS_TRAINING_BACKEND=ray"
        )
    spec = load_spec(model, settings)
    name = rayjob_name(spec.name)
    staged = StagedRun(staging.join_uri(settings.staging_uri, "rayjobs", name))
    staging.upload(entities_path, staged.entities, settings)
    manifest = rayjob_manifest(spec, settings, name=name, staging=staged.prefix)
    jobs = client or RayJobClient(settings.rayjob_namespace)
    progress(f"[rayjob] submitting {name} to namespace '{jobs.namespace}' (inputs in {staged.prefix})")
    try:
        jobs.submit(manifest)
        jobs.wait(name, timeout_s=timeout_s or ACTIVE_DEADLINE_S + 600, poll_s=poll_s, progress=progress)
        # The summary is written last: reading it first confirms the outputs are complete.
        summary = json.loads(staging.read_text(staged.summary, settings))
        with tempfile.TemporaryDirectory(prefix="cxops-rayjob-") as tmp:
            # The model folder is fetched aside, then moved: a half-downloaded model never sits at model_dir.
            fetched = staging.download(staged.model, Path(tmp) / "model", settings)
            _replace(fetched, Path(model_dir))
        staging.download(staged.test, test_path, settings)
        if train_path:
            staging.download(staged.train, train_path, settings)
    except CXOpsError as error:
        raise type(error)(
            f"{error} (the run's staged files are kept under {staged.prefix})", status_code=error.status_code
        ) from error
    try:
        staging.remove(staged.prefix, settings)
    except CXOpsError as error:  # the model is here; leftovers are worth a warning, not a failed run
        progress(f"[rayjob] warning: {error}")
    progress(f"[rayjob] {name} done; model in {model_dir}")
    return {**summary, "rayjob": name}


def _replace(source: Path, target: Path) -> None:
    import shutil

    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(source), str(target))
