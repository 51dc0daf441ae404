"""The KubeRay RayJob backend: the manifest a spec gives, and the client against a fake Kubernetes API.

The fake API server on loopback answers the CustomObjects paths of rayjobs.ray.io with JSON the way the
API server does (Status bodies for errors) and plays KubeRay's status updates from a script; a real
`kubernetes.client.ApiClient` talks to it. No cluster is involved: what KubeRay does with the manifest
is not exercised here (the manifest is checked against the RayJob schema transcribed from KubeRay's Go
types, and the pod templates against Kubernetes' own).
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from collections.abc import Iterator
from typing import Any

import pytest
import ray
from kubernetes import client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cxops.config import Settings
from cxops.deploy.validate import validate_manifest
from cxops.errors import ConflictError, CXOpsError, InvalidInputError, NotFoundError
from cxops.serving.server import free_port
from cxops.serving.thread_server import ThreadServer
from cxops.specs import ScalingSpec, load_spec
from cxops.training import staging
from cxops.training.rayjob import (
    ACTIVE_DEADLINE_S,
    MAX_NAME,
    RayJobClient,
    parse_status,
    rayjob_manifest,
    rayjob_name,
    train_on_rayjob,
)

NS = "cx-train"
COLLECTION = f"/apis/ray.io/v1/namespaces/{NS}/rayjobs"


# -- the manifest ---------------------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path):
    return Settings(home=tmp_path / "home", rayjob_namespace=NS, image_registry="registry.example.com/cx")


def _pods(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    cluster = manifest["spec"]["rayClusterSpec"]
    return {
        "head": cluster["headGroupSpec"]["template"],
        "worker": cluster["workerGroupSpecs"][0]["template"],
        "submitter": manifest["spec"]["submitterPodTemplate"],
    }


def _assert_hardened(template: dict[str, Any], model: str, image: str) -> None:
    pod = template["spec"]
    assert pod["serviceAccountName"] == "cxops-pipeline"
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert template["metadata"]["labels"]["app.kubernetes.io/part-of"] == "cxops"
    assert template["metadata"]["labels"]["cxops.io/model"] == model
    for container in pod["containers"]:
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert security["runAsNonRoot"] is True and security["runAsUser"] == 10001
        assert (
            container["image"]
            == "registry.example.com/cx/cxops-platform:" + container["image"].split(":")[-1]
        )


def _assert_ray_pod(template: dict[str, Any]) -> None:
    pod = template["spec"]
    (container,) = pod["containers"]
    assert container["envFrom"] == [
        {"configMapRef": {"name": "cxops-platform"}},
        {"secretRef": {"name": "cxops-platform"}},
    ]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["dshm"]["emptyDir"] == {"medium": "Memory"}
    assert volumes["tmp"]["emptyDir"] == {}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts == {"/tmp": "tmp", "/dev/shm": "dshm"}


def test_gpu_spec_gives_gpu_workers_that_tolerate_gpu_nodes(settings):
    assert settings.platform_image.startswith("registry.example.com/cx/cxops-platform:")
    spec = load_spec("intent", settings)
    assert spec.trainer.scaling.use_gpu is True
    staged = "s3://cx-artifacts/staging/rayjobs/cxops-train-intent-0a1b2c3d"

    manifest = rayjob_manifest(spec, settings, name="cxops-train-intent-0a1b2c3d", staging=staged)

    assert validate_manifest(manifest) == []
    assert (manifest["apiVersion"], manifest["kind"]) == ("ray.io/v1", "RayJob")
    assert manifest["metadata"]["namespace"] == NS
    assert manifest["metadata"]["labels"]["cxops.io/model"] == "intent"
    job = manifest["spec"]
    assert shlex.split(job["entrypoint"]) == [
        "python", "-m", "cxops.training.remote", "--model", "intent", "--staging", staged,
    ]  # fmt: skip
    assert job["submissionMode"] == "K8sJobMode"
    assert job["shutdownAfterJobFinishes"] is True and job["ttlSecondsAfterFinished"] > 0
    assert job["activeDeadlineSeconds"] == ACTIVE_DEADLINE_S == 4 * 3600
    assert job["backoffLimit"] == 0
    cluster = job["rayClusterSpec"]
    assert cluster["rayVersion"] == ray.__version__
    head = cluster["headGroupSpec"]
    assert head["rayStartParams"] == {"num-cpus": "0", "dashboard-host": "0.0.0.0"}
    assert {p["containerPort"] for p in head["template"]["spec"]["containers"][0]["ports"]} >= {6379, 8265}
    (group,) = cluster["workerGroupSpecs"]
    scaling = spec.trainer.scaling
    assert group["replicas"] == group["minReplicas"] == group["maxReplicas"] == scaling.num_workers == 1
    (worker,) = group["template"]["spec"]["containers"]
    assert worker["resources"]["requests"] == {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "1"}
    assert worker["resources"]["limits"] == {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "1"}
    assert group["template"]["spec"]["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    # The head and the submitter need no GPU and do not sit on GPU nodes.
    for role in ("head", "submitter"):
        template = _pods(manifest)[role]
        assert "tolerations" not in template["spec"]
        assert "nvidia.com/gpu" not in json.dumps(template)
    for role, template in _pods(manifest).items():
        _assert_hardened(template, "intent", settings.platform_image)
        if role != "submitter":
            _assert_ray_pod(template)


def test_cpu_spec_asks_for_no_gpus(settings):
    spec = load_spec("churn", settings)
    assert spec.trainer.scaling.use_gpu is False

    manifest = rayjob_manifest(spec, settings, name=rayjob_name("churn"), staging="gs://b/s/rayjobs/x")

    assert validate_manifest(manifest) == []
    assert "nvidia.com/gpu" not in json.dumps(manifest)
    assert all("tolerations" not in t["spec"] for t in _pods(manifest).values())
    (group,) = manifest["spec"]["rayClusterSpec"]["workerGroupSpecs"]
    (worker,) = group["template"]["spec"]["containers"]
    assert worker["resources"]["requests"] == worker["resources"]["limits"] == {"cpu": "1", "memory": "4Gi"}
    assert group["replicas"] == group["minReplicas"] == group["maxReplicas"] == 1
    for template in _pods(manifest).values():
        _assert_hardened(template, "churn", settings.platform_image)


def test_scaling_turns_into_replicas_and_quantities(settings):
    churn = load_spec("churn", settings)

    def with_scaling(**fields):
        trainer = churn.trainer.model_copy(update={"scaling": ScalingSpec(**fields)})
        manifest = rayjob_manifest(
            churn.model_copy(update={"trainer": trainer}),
            settings,
            name="cxops-train-churn-1",
            staging="s3://b/x",
        )
        return manifest["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]

    group = with_scaling(num_workers=3, cpus_per_worker=0.5, memory_per_worker="1536Mi")
    assert (group["replicas"], group["minReplicas"], group["maxReplicas"]) == (3, 3, 3)
    resources = group["template"]["spec"]["containers"][0]["resources"]
    assert resources["requests"] == {"cpu": "500m", "memory": "1536Mi"}
    # 0 workers means "in-process" on one machine; a RayJob still needs one worker to train on.
    assert with_scaling(num_workers=0)["replicas"] == 1


def test_names_are_short_unique_dns_labels(settings):
    names = {rayjob_name("churn") for _ in range(20)}
    assert len(names) == 20
    assert all(re.fullmatch(r"cxops-train-churn-[0-9a-f]{8}", n) for n in names)
    assert rayjob_name("churn", "ABC123") == "cxops-train-churn-abc123"
    long = rayjob_name("customer-lifetime-value-with-a-very-long-model-name")
    assert len(long) <= MAX_NAME < 63 and re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", long)
    assert long.startswith("cxops-train-customer-lifetime")
    with pytest.raises(InvalidInputError, match="cannot name a RayJob"):
        rayjob_name("___")
    with pytest.raises(InvalidInputError, match="DNS-1035"):
        rayjob_manifest(load_spec("churn", settings), settings, name="Bad_Name", staging="s3://b/x")


# -- the fake Kubernetes API ----------------------------------------------------------------------------


def _status_body(code: int, message: str, reason: str, details: dict[str, Any] | None = None) -> dict:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason}
    return {**body, "details": details or {}, "code": code}


def not_found(name: str) -> dict:
    details = {"name": name, "group": "ray.io", "kind": "rayjobs"}
    return _status_body(404, f'rayjobs.ray.io "{name}" not found', "NotFound", details)


CRD_MISSING = _status_body(404, "the server could not find the requested resource", "NotFound")
NAMESPACE_MISSING = _status_body(
    404, f'namespaces "{NS}" not found', "NotFound", {"name": NS, "kind": "namespaces"}
)
FORBIDDEN = _status_body(
    403,
    f'rayjobs.ray.io is forbidden: User "system:serviceaccount:{NS}:cxops-pipeline" cannot create resource '
    f'"rayjobs" in API group "ray.io" in the namespace "{NS}"',
    "Forbidden",
    {"group": "ray.io", "kind": "rayjobs"},
)


class FakeKubeRay:
    """RayJobs by name, the requests received, a status script per job (one entry per GET, the last one
    repeats), and errors to answer once per method."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.scripts: dict[str, list[dict[str, str]]] = {}
        self.requests: list[dict[str, Any]] = []
        self.fail: dict[str, tuple[int, dict[str, Any]]] = {}
        item = f"{COLLECTION}/{{name}}"
        self.app = Starlette(
            routes=[
                Route("/apis/ray.io/v1/namespaces/{namespace}/rayjobs", self.create, methods=["POST"]),
                Route(item.replace(NS, "{namespace}"), self.item, methods=["GET", "DELETE"]),
            ]
        )

    async def _record(self, request: Request) -> JSONResponse | None:
        raw = await request.body()
        self.requests.append(
            {
                "method": request.method,
                "path": request.url.path,
                "query": dict(request.query_params),
                "body": json.loads(raw) if raw else None,
            }
        )
        if request.method in self.fail:
            status, body = self.fail.pop(request.method)
            return JSONResponse(body, status_code=status)
        return None

    async def create(self, request: Request) -> JSONResponse:
        if (failed := await self._record(request)) is not None:
            return failed
        body = self.requests[-1]["body"]
        name = body["metadata"]["name"]
        if name in self.objects:
            return JSONResponse(
                _status_body(409, f'rayjobs.ray.io "{name}" already exists', "AlreadyExists"), 409
            )
        stored = copy.deepcopy(body)
        stored["metadata"].update({"uid": "u-1", "resourceVersion": "1", "generation": 1})
        self.objects[name] = stored
        return JSONResponse(stored, status_code=201)

    async def item(self, request: Request) -> JSONResponse:
        if (failed := await self._record(request)) is not None:
            return failed
        name = request.path_params["name"]
        if name not in self.objects:
            return JSONResponse(not_found(name), status_code=404)
        if request.method == "DELETE":
            del self.objects[name]
            return JSONResponse({"kind": "Status", "apiVersion": "v1", "status": "Success"})
        script = self.scripts.get(name) or [{}]
        status = script.pop(0) if len(script) > 1 else script[0]
        answer = copy.deepcopy(self.objects[name])
        answer["status"] = status
        return JSONResponse(answer)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeKubeRay, str]]:
    fake = FakeKubeRay()
    with ThreadServer(fake.app) as running:
        yield fake, running.url


@pytest.fixture
def api(server) -> FakeKubeRay:
    fake, _ = server
    fake.objects.clear()
    fake.scripts.clear()
    fake.requests.clear()
    fake.fail.clear()
    return fake


def _api_client(url: str) -> client.ApiClient:
    configuration = client.Configuration(host=url)
    configuration.retries = 0
    return client.ApiClient(configuration)


@pytest.fixture
def jobs(server) -> RayJobClient:
    return RayJobClient(NS, _api_client(server[1]), request_timeout=5)


@pytest.fixture
def manifest(settings) -> dict[str, Any]:
    return rayjob_manifest(
        load_spec("churn", settings), settings, name="cxops-train-churn-abc", staging="s3://b/x"
    )


def _status(deployment: str, job: str = "", message: str = "", **extra: str) -> dict[str, str]:
    status = {"jobDeploymentStatus": deployment, "jobStatus": job, "message": message, **extra}
    return {k: v for k, v in status.items() if v}


# -- the client -----------------------------------------------------------------------------------------


def test_submit_then_running_then_complete(api, jobs, manifest):
    name = manifest["metadata"]["name"]
    cluster = f"{name}-x7k2p"
    api.scripts[name] = [
        {},
        _status("Initializing", rayClusterName=cluster),
        _status("Running", "PENDING", rayClusterName=cluster),
        _status("Running", "RUNNING", rayClusterName=cluster),
        _status("Complete", "SUCCEEDED", "Job finished successfully.", rayClusterName=cluster),
    ]
    heard: list[str] = []

    stored = jobs.submit(manifest)
    final = jobs.wait(name, timeout_s=30, poll_s=0.01, progress=heard.append)

    assert stored["metadata"]["name"] == name
    create = api.requests[0]
    assert (create["method"], create["path"]) == ("POST", COLLECTION)
    assert create["query"] == {"fieldValidation": "Strict"}
    assert create["body"] == manifest
    assert {(r["method"], r["path"]) for r in api.requests[1:]} == {("GET", f"{COLLECTION}/{name}")}
    assert final.succeeded and not final.failed
    assert (final.deployment_status, final.job_status) == ("Complete", "SUCCEEDED")
    assert final.ray_cluster == cluster
    assert len(heard) == 5 and "Initializing" in heard[1] and "SUCCEEDED" in heard[-1]


def test_failed_job_raises_with_kuberays_message_and_where_to_look(api, jobs, manifest):
    name = manifest["metadata"]["name"]
    api.scripts[name] = [
        _status("Running", "RUNNING"),
        _status("Failed", "FAILED", "Job entrypoint command failed with exit code 1", reason="AppFailed"),
    ]
    jobs.submit(manifest)

    with pytest.raises(CXOpsError) as error:
        jobs.wait(name, timeout_s=30, poll_s=0.01, progress=None)

    text = str(error.value)
    assert "failed with exit code 1" in text and "AppFailed" in text
    assert f"kubectl -n {NS} logs job/{name}" in text
    assert name in api.objects  # a failed job is kept for a look; its cluster goes after the TTL


def test_older_kuberay_reports_a_failed_job_as_complete(api, jobs, manifest):
    name = manifest["metadata"]["name"]
    api.scripts[name] = [_status("Complete", "STOPPED", "Job was stopped")]
    jobs.submit(manifest)
    with pytest.raises(CXOpsError, match="STOPPED"):
        jobs.wait(name, timeout_s=30, poll_s=0.01, progress=None)


def test_timeout_deletes_the_rayjob(api, jobs, manifest):
    name = manifest["metadata"]["name"]
    api.scripts[name] = [_status("Initializing")]  # pods never scheduled
    jobs.submit(manifest)

    with pytest.raises(CXOpsError, match="did not finish within 0.3 s") as error:
        jobs.wait(name, timeout_s=0.3, poll_s=0.05, progress=None)

    assert error.value.status_code == 504
    assert "it was deleted" in str(error.value) and "Initializing" in str(error.value)
    assert api.requests[-1]["method"] == "DELETE" and api.requests[-1]["path"] == f"{COLLECTION}/{name}"
    assert name not in api.objects


def test_forbidden_names_the_verbs_and_the_namespace(api, jobs, manifest):
    api.fail["POST"] = (403, FORBIDDEN)
    with pytest.raises(CXOpsError) as error:
        jobs.submit(manifest)
    text = str(error.value)
    assert error.value.status_code == 403
    assert "create, get and delete on rayjobs.ray.io" in text and f"namespace '{NS}'" in text
    assert "cannot create resource" in text  # the API server's own words


def test_missing_crd_means_kuberay_is_not_installed(api, jobs, manifest):
    api.fail["POST"] = (404, CRD_MISSING)
    with pytest.raises(NotFoundError, match="KubeRay is not installed") as error:
        jobs.submit(manifest)
    assert COLLECTION in str(error.value)


def test_other_api_answers_are_mapped(api, jobs, manifest):
    api.fail["POST"] = (404, NAMESPACE_MISSING)
    with pytest.raises(NotFoundError, match=f"namespace '{NS}' does not exist"):
        jobs.submit(manifest)

    api.fail["POST"] = (400, _status_body(400, 'unknown field "spec.submitterPodTemplate"', "BadRequest"))
    with pytest.raises(InvalidInputError, match="upgrade KubeRay"):
        jobs.submit(manifest)

    jobs.submit(manifest)
    with pytest.raises(ConflictError, match="already exists"):
        jobs.submit(manifest)

    with pytest.raises(NotFoundError, match="'cxops-train-gone' in namespace"):
        jobs.status("cxops-train-gone")
    assert jobs.delete("cxops-train-gone") is False

    api.fail["GET"] = (500, _status_body(500, "etcd timeout", "InternalError"))
    with pytest.raises(CXOpsError, match="etcd timeout") as error:
        jobs.status(manifest["metadata"]["name"])
    assert error.value.status_code == 502


def test_an_unreachable_api_server_is_named():
    closed = RayJobClient(NS, _api_client(f"http://127.0.0.1:{free_port()}"), request_timeout=2)
    with pytest.raises(CXOpsError, match="cannot reach the Kubernetes API") as error:
        closed.status("cxops-train-x")
    assert error.value.status_code == 503


def test_bad_namespaces_and_foreign_manifests_are_refused(jobs, manifest):
    with pytest.raises(InvalidInputError, match="CXOPS_RAYJOB_NAMESPACE"):
        RayJobClient("Not A Namespace", _api_client("http://127.0.0.1:1"))
    other = {**manifest, "metadata": {**manifest["metadata"], "namespace": "elsewhere"}}
    with pytest.raises(InvalidInputError, match="'elsewhere'"):
        jobs.submit(other)


def test_parse_status_of_a_new_object():
    status = parse_status({"metadata": {"name": "j", "namespace": NS}})
    assert (status.deployment_status, status.job_status, status.succeeded, status.failed) == (
        "",
        "",
        False,
        False,
    )
    assert status.describe() == "deployment New, Ray job not submitted"


# -- the training step's orchestration ------------------------------------------------------------------


def test_rayjob_training_needs_a_staging_uri(settings, tmp_path):
    with pytest.raises(InvalidInputError, match="CXOPS_STAGING_URI"):
        train_on_rayjob(
            "churn",
            settings,
            entities_path=str(tmp_path / "e.parquet"),
            model_dir=str(tmp_path / "m"),
            test_path=str(tmp_path / "t.parquet"),
        )


def test_a_failed_rayjob_keeps_its_staged_inputs_and_says_where(api, server, settings, tmp_path):
    entities = tmp_path / "entities.parquet"
    entities.write_bytes(b"PAR1 entity frame")
    bucket = (tmp_path / "bucket").as_uri()
    staged_settings = settings.model_copy(update={"staging_uri": bucket})

    class ScriptedFailure(RayJobClient):
        def submit(self, manifest):
            stored = super().submit(manifest)
            api.scripts[manifest["metadata"]["name"]] = [_status("Failed", "FAILED", "out of memory")]
            return stored

    with pytest.raises(CXOpsError, match="out of memory") as error:
        train_on_rayjob(
            "churn",
            staged_settings,
            entities_path=str(entities),
            model_dir=str(tmp_path / "model"),
            test_path=str(tmp_path / "test.parquet"),
            client=ScriptedFailure(NS, _api_client(server[1]), request_timeout=5),
            progress=lambda _m: None,
            poll_s=0.01,
        )

    (name,) = api.objects
    prefix = staging.join_uri(bucket, "rayjobs", name)
    assert f"kept under {prefix}" in str(error.value)
    assert (tmp_path / "bucket" / "rayjobs" / name / "inputs" / "entities.parquet").read_bytes() == (
        entities.read_bytes()
    )
    assert api.objects[name]["metadata"]["annotations"]["cxops.io/staging-uri"] == prefix
    assert not (tmp_path / "model").exists()
