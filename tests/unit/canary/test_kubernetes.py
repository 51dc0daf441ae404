"""The KServe canary backend against a recorded API contract.

A fake Kubernetes API server on loopback serves hand-written InferenceService objects shaped like
KServe 0.20's (fixtures/), applies merge patches the way the API server does (RFC 7386, resourceVersion
precondition), and records every request. A real `kubernetes.client.ApiClient` talks to it, so the
tests pin what goes over the wire: paths, Content-Type, query, bodies. Every patch body, and every
object a patch produces, is validated against the schema extracted from KServe's CRD. No cluster is
involved: how KServe reacts to the patches is not exercised here.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from kubernetes import client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cxops.canary import kubernetes as k8s
from cxops.canary.errors import (
    CanaryBackendError,
    CanaryConflictError,
    CanaryError,
    CanaryInvalidError,
    CanaryModeError,
    CanaryNotFoundError,
    CanaryPermissionError,
)
from cxops.canary.kubernetes import DeploymentMode, KServeCanaryBackend, canary_name, deployment_mode
from cxops.serving.server import free_port
from cxops.serving.thread_server import ThreadServer

FIXTURES = Path(__file__).parent / "fixtures"
SCHEMA_FILE = Path(k8s.__file__).parent / "schemas" / "inferenceservice.schema.json"
NS = "cx-serving"
PATH = f"/apis/serving.kserve.io/v1beta1/namespaces/{NS}/inferenceservices/churn"
IMAGE_7 = "registry.cxops.internal/cxops/churn:7"
IMAGE_8 = "registry.cxops.internal/cxops/churn:8"
IMAGE_9 = "registry.cxops.internal/cxops/churn:9"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


API_ERRORS = fixture("api_errors")


# -- the schema -------------------------------------------------------------------------------------


def _patch_schema(node: Any) -> Any:
    """The schema of a merge patch: no required fields, null allowed (delete), no undeclared keys."""
    if isinstance(node, list):
        return [_patch_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _patch_schema(value) for key, value in node.items() if key not in ("required", "default")}
    if isinstance(node.get("type"), str) and node["type"] != "null":
        out["type"] = [node["type"], "null"]
    if "properties" in node and "additionalProperties" not in node:
        out["additionalProperties"] = False
    return out


SCHEMA = json.loads(SCHEMA_FILE.read_text())
OBJECT_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
PATCH_VALIDATOR = jsonschema.Draft202012Validator(_patch_schema(SCHEMA))


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# -- the fake API server ----------------------------------------------------------------------------


class FakeKubeApi:
    """Stored objects by (namespace, name), recorded requests, and errors to answer once."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.fail: dict[str, tuple[int, dict[str, Any]]] = {}  # method -> (status, Status body)
        self.modified_after_read = False  # another writer changes the object after each GET
        self.app = Starlette(
            routes=[
                Route(
                    "/apis/serving.kserve.io/v1beta1/namespaces/{namespace}/inferenceservices/{name}",
                    self.handle,
                    methods=["GET", "PATCH"],
                )
            ]
        )

    def put(self, isvc: dict[str, Any]) -> None:
        meta = isvc["metadata"]
        self.objects[(meta["namespace"], meta["name"])] = copy.deepcopy(isvc)

    def patches(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == "PATCH"]

    async def handle(self, request: Request) -> JSONResponse:
        raw = await request.body()
        self.requests.append(
            {
                "method": request.method,
                "path": request.url.path,
                "query": dict(request.query_params),
                "headers": {k.lower(): v for k, v in request.headers.items()},
                "body": json.loads(raw) if raw else None,
            }
        )
        if request.method in self.fail:
            status, body = self.fail.pop(request.method)
            return JSONResponse(body, status_code=status)
        key = (request.path_params["namespace"], request.path_params["name"])
        stored = self.objects.get(key)
        if stored is None:
            body = copy.deepcopy(API_ERRORS["not_found"])
            body["message"] = f'inferenceservices.serving.kserve.io "{key[1]}" not found'
            return JSONResponse(body, status_code=404)
        if request.method == "GET":
            answer = copy.deepcopy(stored)
            if self.modified_after_read:
                stored["metadata"]["resourceVersion"] = str(int(stored["metadata"]["resourceVersion"]) + 7)
            return JSONResponse(answer)
        if request.headers.get("content-type") != "application/merge-patch+json":
            return JSONResponse({"kind": "Status", "code": 415, "message": "unsupported patch type"}, 415)
        patch = json.loads(raw)
        wanted = (patch.get("metadata") or {}).get("resourceVersion")
        if wanted is not None and wanted != stored["metadata"]["resourceVersion"]:
            return JSONResponse(API_ERRORS["conflict"], status_code=409)
        updated = merge_patch(stored, patch)
        updated["metadata"]["resourceVersion"] = str(int(stored["metadata"]["resourceVersion"]) + 1)
        if updated.get("spec") != stored.get("spec"):
            updated["metadata"]["generation"] = stored["metadata"]["generation"] + 1
        self.objects[key] = updated
        return JSONResponse(updated)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeKubeApi, str]]:
    fake = FakeKubeApi()
    with ThreadServer(fake.app) as running:
        yield fake, running.url


@pytest.fixture
def api(server: tuple[FakeKubeApi, str]) -> FakeKubeApi:
    fake, _ = server
    fake.objects.clear()
    fake.requests.clear()
    fake.fail.clear()
    fake.modified_after_read = False
    return fake


def _client(url: str) -> client.ApiClient:
    configuration = client.Configuration(host=url)
    configuration.retries = 0
    return client.ApiClient(configuration)


@pytest.fixture
def backend(server: tuple[FakeKubeApi, str]) -> KServeCanaryBackend:
    return KServeCanaryBackend(NS, _client(server[1]), request_timeout=5)


def only_patch(api: FakeKubeApi) -> dict[str, Any]:
    """The single PATCH, after checking what every request of a change carries."""
    assert [(r["method"], r["path"]) for r in api.requests] == [("GET", PATH), ("PATCH", PATH)]
    patch = api.patches()[0]
    assert patch["headers"]["content-type"] == "application/merge-patch+json"
    assert patch["headers"]["accept"] == "application/json"
    assert patch["query"] == {"fieldValidation": "Strict"}
    PATCH_VALIDATOR.validate(patch["body"])
    return patch["body"]


def stored(api: FakeKubeApi) -> dict[str, Any]:
    isvc = api.objects[(NS, "churn")]
    OBJECT_VALIDATOR.validate(isvc)
    return isvc


# -- Serverless -------------------------------------------------------------------------------------


def test_status_reads_the_serverless_traffic_split(api: FakeKubeApi, backend: KServeCanaryBackend) -> None:
    api.put(fixture("isvc_serverless_canary"))

    status = backend.status("churn")

    assert [(r["method"], r["path"]) for r in api.requests] == [("GET", PATH)]
    assert api.requests[0]["headers"]["accept"] == "application/json"
    assert status.mode is DeploymentMode.SERVERLESS
    assert (status.model, status.namespace, status.ready, status.settled) == ("churn", NS, True, True)
    assert status.url == "http://churn-cx-serving.example.com"
    assert status.canary_percent == 10
    assert [(t.revision, t.percent, t.latest, t.tag) for t in status.traffic] == [
        ("churn-predictor-00002", 10, True, "latest"),
        ("churn-predictor-00001", 90, False, "prev"),
    ]
    assert status.candidate is not None and status.candidate.revision == "churn-predictor-00002"
    assert status.candidate.url == "http://latest-churn-predictor-cx-serving.example.com"
    assert status.stable is not None and status.stable.percent == 90
    assert status.latest_created_revision == status.latest_ready_revision == "churn-predictor-00002"
    assert status.latest_rolledout_revision == "churn-predictor-00001"
    assert {c.type for c in status.conditions} >= {"Ready", "PredictorReady", "IngressReady"}


def test_status_without_a_canary_has_one_target(api: FakeKubeApi, backend: KServeCanaryBackend) -> None:
    api.put(fixture("isvc_serverless_stable"))

    status = backend.status("churn")

    assert status.canary_percent is None
    assert status.candidate is None
    assert [(t.revision, t.percent, t.latest) for t in status.traffic] == [
        ("churn-predictor-00001", 100, True)
    ]


def test_start_patches_the_image_and_the_percentage(api: FakeKubeApi, backend: KServeCanaryBackend) -> None:
    api.put(fixture("isvc_serverless_stable"))
    containers = copy.deepcopy(fixture("isvc_serverless_stable")["spec"]["predictor"]["containers"])
    containers[0]["image"] = IMAGE_8

    status = backend.start("churn", IMAGE_8, 10)

    assert only_patch(api) == {
        "metadata": {"resourceVersion": "48213977"},
        "spec": {"predictor": {"containers": containers, "canaryTrafficPercent": 10}},
    }
    isvc = stored(api)
    assert isvc["spec"]["predictor"]["canaryTrafficPercent"] == 10
    assert isvc["spec"]["predictor"]["minReplicas"] == 1  # a merge patch leaves other fields alone
    assert status.canary_percent == 10 and not status.settled  # KServe has not seen generation 2 yet


def test_start_sets_a_storage_uri_on_a_model_predictor(
    api: FakeKubeApi, backend: KServeCanaryBackend
) -> None:
    isvc = fixture("isvc_serverless_stable")
    isvc["spec"]["predictor"] = {
        "model": {"modelFormat": {"name": "xgboost"}, "storageUri": "s3://cxops-models/churn/7"}
    }
    api.put(isvc)

    backend.start("churn", "s3://cxops-models/churn/8", 25)

    assert only_patch(api)["spec"] == {
        "predictor": {
            "model": {"modelFormat": {"name": "xgboost"}, "storageUri": "s3://cxops-models/churn/8"},
            "canaryTrafficPercent": 25,
        }
    }


def test_set_percent_promote_and_rollback_bodies(api: FakeKubeApi, backend: KServeCanaryBackend) -> None:
    cases = [
        (lambda: backend.set_percent("churn", 50), {"predictor": {"canaryTrafficPercent": 50}}),
        (lambda: backend.promote("churn"), {"predictor": {"canaryTrafficPercent": None}}),
        (lambda: backend.rollback("churn"), {"predictor": {"canaryTrafficPercent": 0}}),
    ]
    for call, spec in cases:
        api.put(fixture("isvc_serverless_canary"))
        api.requests.clear()
        call()
        assert only_patch(api) == {"metadata": {"resourceVersion": "48215310"}, "spec": spec}
        stored(api)
    assert "canaryTrafficPercent" in stored(api)["spec"]["predictor"]  # rolled back: pinned at 0


def test_promote_removes_the_field(api: FakeKubeApi, backend: KServeCanaryBackend) -> None:
    api.put(fixture("isvc_serverless_canary"))

    backend.promote("churn")

    predictor = stored(api)["spec"]["predictor"]
    assert "canaryTrafficPercent" not in predictor
    assert predictor["containers"][0]["image"] == IMAGE_8


def test_promote_waits_for_the_candidate_revision(api: FakeKubeApi, backend: KServeCanaryBackend) -> None:
    isvc = fixture("isvc_serverless_canary")
    isvc["status"]["components"]["predictor"]["latestCreatedRevision"] = "churn-predictor-00003"
    api.put(isvc)

    with pytest.raises(CanaryConflictError, match="churn-predictor-00003' is not ready"):
        backend.promote("churn")
    assert api.patches() == []


def test_a_full_serverless_cycle_keeps_the_object_valid(
    api: FakeKubeApi, backend: KServeCanaryBackend
) -> None:
    api.put(fixture("isvc_serverless_stable"))

    backend.start("churn", IMAGE_8, 5)
    backend.set_percent("churn", 40)
    backend.rollback("churn")
    backend.start("churn", IMAGE_9, 5)  # a rolled-back canary (0 %) does not block the next one
    backend.promote("churn")

    predictor = stored(api)["spec"]["predictor"]
    assert predictor["containers"][0]["image"] == IMAGE_9
    assert "canaryTrafficPercent" not in predictor
    assert [r["body"]["metadata"]["resourceVersion"] for r in api.patches()] == [
        str(48213977 + step) for step in range(5)
    ]


def test_start_refuses_while_a_canary_runs(api: FakeKubeApi, backend: KServeCanaryBackend) -> None:
    api.put(fixture("isvc_serverless_canary"))

    with pytest.raises(CanaryConflictError, match="already has a canary at 10 %"):
        backend.start("churn", IMAGE_9, 10)
    assert api.patches() == []


@pytest.mark.parametrize("call", ["set_percent", "promote", "rollback"])
def test_changes_need_a_canary(api: FakeKubeApi, backend: KServeCanaryBackend, call: str) -> None:
    api.put(fixture("isvc_serverless_stable"))

    with pytest.raises(CanaryConflictError, match="has no canary .*start one first") as caught:
        getattr(backend, call)("churn", *([30] if call == "set_percent" else []))
    assert caught.value.status_code == 409
    assert api.patches() == []


# -- Standard (RawDeployment) ---------------------------------------------------------------------


def test_standard_start_adds_a_named_canary(api: FakeKubeApi, backend: KServeCanaryBackend) -> None:
    api.put(fixture("isvc_standard_stable"))
    containers = copy.deepcopy(fixture("isvc_standard_stable")["spec"]["predictor"]["containers"])
    containers[0]["image"] = IMAGE_8

    backend.start("churn", IMAGE_8, 20)

    name = canary_name("churn", IMAGE_8)
    assert only_patch(api) == {
        "metadata": {"resourceVersion": "51100422"},
        "spec": {"canary": [{"trafficPercent": 20, "predictor": {"name": name, "containers": containers}}]},
    }
    isvc = stored(api)
    assert "canaryTrafficPercent" not in isvc["spec"]["predictor"]  # ignored by KServe in this mode
    assert isvc["spec"]["predictor"]["containers"][0]["image"] == IMAGE_7
    assert isvc["spec"] == fixture("isvc_standard_canary")["spec"]


def test_standard_status_reads_spec_and_canary_statuses(
    api: FakeKubeApi, backend: KServeCanaryBackend
) -> None:
    api.put(fixture("isvc_standard_canary"))

    status = backend.status("churn")

    name = canary_name("churn", IMAGE_8)
    assert status.mode is DeploymentMode.STANDARD
    assert status.canary_percent == 20 and status.ready and status.settled
    assert [(t.revision, t.percent, t.latest, t.ready) for t in status.traffic] == [
        ("churn-predictor", 80, False, True),
        (f"churn-{name}-predictor", 20, True, True),
    ]
    assert status.latest_ready_revision is None  # no Knative revisions in this mode


def test_standard_set_percent_resends_the_entry(api: FakeKubeApi, backend: KServeCanaryBackend) -> None:
    api.put(fixture("isvc_standard_canary"))
    entry = copy.deepcopy(fixture("isvc_standard_canary")["spec"]["canary"][0])
    entry["trafficPercent"] = 60

    backend.set_percent("churn", 60)

    assert only_patch(api) == {"metadata": {"resourceVersion": "51102958"}, "spec": {"canary": [entry]}}
    assert stored(api)["spec"]["canary"] == [entry]


def test_standard_promote_retargets_the_stable_predictor(
    api: FakeKubeApi, backend: KServeCanaryBackend
) -> None:
    api.put(fixture("isvc_standard_canary"))
    entry = fixture("isvc_standard_canary")["spec"]["canary"][0]

    backend.promote("churn")

    body = only_patch(api)
    assert body["spec"] == {
        "predictor": {"containers": entry["predictor"]["containers"], "name": entry["predictor"]["name"]},
        "canary": None,
    }
    spec = stored(api)["spec"]
    assert "canary" not in spec
    assert spec["predictor"]["name"] == canary_name("churn", IMAGE_8)
    assert spec["predictor"]["containers"][0]["image"] == IMAGE_8
    assert spec["predictor"]["minReplicas"] == 4


def test_standard_promote_waits_for_a_ready_canary(api: FakeKubeApi, backend: KServeCanaryBackend) -> None:
    isvc = fixture("isvc_standard_canary")
    isvc["status"]["canaryStatuses"][0]["ready"] = False
    api.put(isvc)

    with pytest.raises(CanaryConflictError, match="is not ready"):
        backend.promote("churn")
    assert api.patches() == []


def test_standard_rollback_removes_the_canary(api: FakeKubeApi, backend: KServeCanaryBackend) -> None:
    api.put(fixture("isvc_standard_canary"))

    backend.rollback("churn")

    assert only_patch(api)["spec"] == {"canary": None}
    assert stored(api)["spec"] == fixture("isvc_standard_stable")["spec"]


def test_standard_refuses_a_second_canary(api: FakeKubeApi, backend: KServeCanaryBackend) -> None:
    api.put(fixture("isvc_standard_canary"))

    with pytest.raises(CanaryConflictError, match="already has a canary"):
        backend.start("churn", IMAGE_9, 10)
    assert api.patches() == []


def test_legacy_rawdeployment_annotation_is_standard(api: FakeKubeApi, backend: KServeCanaryBackend) -> None:
    isvc = fixture("isvc_standard_stable")
    isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] = "RawDeployment"
    del isvc["status"]["deploymentMode"]
    api.put(isvc)

    backend.start("churn", IMAGE_8, 10)

    assert "canary" in only_patch(api)["spec"]


def test_knative_is_the_serverless_mode_by_its_newer_name() -> None:
    isvc = fixture("isvc_standard_stable")
    isvc["status"]["deploymentMode"] = "Knative"
    assert deployment_mode(isvc) is DeploymentMode.SERVERLESS


@pytest.mark.parametrize("mode", ["ModelMesh", None])
def test_modes_without_a_split_are_refused(
    api: FakeKubeApi, backend: KServeCanaryBackend, mode: str | None
) -> None:
    isvc = fixture("isvc_serverless_stable")
    del isvc["status"]["deploymentMode"]
    if mode is None:
        del isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"]
    else:
        isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] = mode
    api.put(isvc)

    with pytest.raises(CanaryModeError, match=mode or "reports no deployment mode") as caught:
        backend.start("churn", IMAGE_8, 10)
    assert caught.value.status_code == 422
    assert api.patches() == []


# -- arguments --------------------------------------------------------------------------------------


@pytest.mark.parametrize("percent", [-1, 101, True, 10.0, "10"])
def test_percentages_outside_0_to_100_are_refused(
    api: FakeKubeApi, backend: KServeCanaryBackend, percent: Any
) -> None:
    with pytest.raises(CanaryInvalidError, match="0 to 100"):
        backend.start("churn", IMAGE_8, percent)
    with pytest.raises(CanaryInvalidError, match="0 to 100"):
        backend.set_percent("churn", percent)
    assert api.requests == []


def test_names_are_checked_before_any_request(api: FakeKubeApi, backend: KServeCanaryBackend) -> None:
    with pytest.raises(CanaryInvalidError, match="not a Kubernetes name"):
        backend.status("../secrets/churn")
    with pytest.raises(CanaryInvalidError, match="not a Kubernetes name"):
        KServeCanaryBackend("Prod_Namespace", client.ApiClient())
    assert api.requests == []


@pytest.mark.parametrize(
    ("candidate", "message"),
    [
        ("s3://cxops-models/churn/8", "pass the candidate's image reference"),
        (IMAGE_7, "already serves"),
        ("not an image", "image reference or a storage URI"),
    ],
)
def test_candidates_must_fit_the_predictor(
    api: FakeKubeApi, backend: KServeCanaryBackend, candidate: str, message: str
) -> None:
    api.put(fixture("isvc_serverless_stable"))

    with pytest.raises(CanaryInvalidError, match=message):
        backend.start("churn", candidate, 10)
    assert api.patches() == []


def test_canary_names_fit_a_service_name() -> None:
    name = canary_name("churn", IMAGE_8)
    assert name == canary_name("churn", IMAGE_8) != canary_name("churn", IMAGE_9)
    assert len(f"churn-{name}-predictor") <= 63
    with pytest.raises(CanaryInvalidError, match="too long"):
        canary_name("c" * 50, IMAGE_8)


# -- errors of the API server ----------------------------------------------------------------------


def test_404_names_the_inference_service(api: FakeKubeApi, backend: KServeCanaryBackend) -> None:
    with pytest.raises(CanaryNotFoundError) as caught:
        backend.start("churn", IMAGE_8, 10)

    assert caught.value.status_code == 404
    assert "InferenceService 'churn' in namespace 'cx-serving' does not exist" in str(caught.value)
    assert PATH in str(caught.value)


@pytest.mark.parametrize(
    ("error", "expected", "status_code", "message"),
    [
        (
            "forbidden_rbac",
            CanaryPermissionError,
            403,
            "grant the platform's identity the verbs get and patch",
        ),
        ("forbidden_webhook", CanaryInvalidError, 422, "admission webhook refused"),
        ("conflict", CanaryConflictError, 409, "changed while trying to start a canary on"),
        ("invalid", CanaryInvalidError, 422, "containers\\[0\\].image: Required value"),
        ("unknown_field", CanaryInvalidError, 422, "has no spec.canary, which KServe 0.20 added"),
        ("unknown_field_pruned", CanaryInvalidError, 422, "has no spec.canary, which KServe 0.20 added"),
        ("unauthorized", CanaryPermissionError, 401, "not allowed to start a canary on"),
        ("internal", CanaryBackendError, 502, "answered 500"),
    ],
)
def test_patch_errors_are_mapped(
    api: FakeKubeApi,
    backend: KServeCanaryBackend,
    error: str,
    expected: type[CanaryError],
    status_code: int,
    message: str,
) -> None:
    api.put(fixture("isvc_standard_stable"))
    body = API_ERRORS[error]
    api.fail["PATCH"] = (body["code"], body)

    with pytest.raises(expected, match=message) as caught:
        backend.start("churn", IMAGE_8, 10)

    assert type(caught.value) is expected
    assert caught.value.status_code == status_code
    assert "'churn'" in str(caught.value) and "'cx-serving'" in str(caught.value)
    assert len(api.patches()) == 1


def test_403_on_read_is_a_permission_error(api: FakeKubeApi, backend: KServeCanaryBackend) -> None:
    api.fail["GET"] = (403, API_ERRORS["forbidden_rbac"])

    with pytest.raises(CanaryPermissionError, match="not allowed to read") as caught:
        backend.status("churn")
    assert caught.value.status_code == 403


def test_a_concurrent_change_is_a_409_not_an_overwrite(
    api: FakeKubeApi, backend: KServeCanaryBackend
) -> None:
    api.put(fixture("isvc_serverless_canary"))
    api.modified_after_read = True

    with pytest.raises(CanaryConflictError, match="the object has been modified"):
        backend.set_percent("churn", 90)
    assert api.objects[(NS, "churn")]["spec"]["predictor"]["canaryTrafficPercent"] == 10


def test_an_unreachable_api_server_is_a_503() -> None:
    backend = KServeCanaryBackend(NS, _client(f"http://127.0.0.1:{free_port()}"), request_timeout=2)

    with pytest.raises(
        CanaryBackendError, match="cannot reach the Kubernetes API at http://127.0.0.1"
    ) as caught:
        backend.status("churn")
    assert caught.value.status_code == 503


# -- the client's content types ---------------------------------------------------------------------


def test_the_generated_patch_method_sends_merge_patch(
    api: FakeKubeApi, server: tuple[FakeKubeApi, str]
) -> None:
    """kubernetes 30.1.0 hard-codes merge patch here; the backend sets it itself either way."""
    api.put(fixture("isvc_serverless_canary"))
    custom = client.CustomObjectsApi(_client(server[1]))

    custom.patch_namespaced_custom_object(
        "serving.kserve.io", "v1beta1", NS, "inferenceservices", "churn", {"spec": {"predictor": {}}}
    )

    assert api.patches()[0]["headers"]["content-type"] == "application/merge-patch+json"


def test_a_default_content_type_is_refused(server: tuple[FakeKubeApi, str]) -> None:
    api_client = _client(server[1])
    api_client.set_default_header("Content-Type", "application/json-patch+json")

    with pytest.raises(CanaryInvalidError, match="default Content-Type"):
        KServeCanaryBackend(NS, api_client)


# -- the schema itself ------------------------------------------------------------------------------


def test_schema_names_its_source_and_holds_the_fixtures() -> None:
    comment = SCHEMA["$comment"]
    assert "config/crd/full/serving.kserve.io_inferenceservices.yaml" in comment
    assert "v0.20.0" in comment
    for name in ("serverless_stable", "serverless_canary", "standard_stable", "standard_canary"):
        OBJECT_VALIDATOR.validate(fixture(f"isvc_{name}"))


def test_schema_rejects_what_kserve_would_reject() -> None:
    isvc = fixture("isvc_serverless_canary")
    isvc["spec"]["predictor"]["canaryTrafficPercent"] = "10"
    assert not OBJECT_VALIDATOR.is_valid(isvc)
    isvc = fixture("isvc_standard_canary")
    isvc["spec"]["canary"][0]["trafficPercent"] = 120
    assert not OBJECT_VALIDATOR.is_valid(isvc)
    isvc = fixture("isvc_standard_canary")
    del isvc["spec"]["canary"][0]["predictor"]["containers"][0]["name"]
    assert not OBJECT_VALIDATOR.is_valid(isvc)


def test_patch_schema_catches_misspelt_fields() -> None:
    assert PATCH_VALIDATOR.is_valid({"spec": {"predictor": {"canaryTrafficPercent": None}}})
    assert not PATCH_VALIDATOR.is_valid({"spec": {"predictor": {"canaryTraficPercent": 10}}})
    assert not PATCH_VALIDATOR.is_valid(
        {"spec": {"canary": [{"trafficPercent": 10, "predictor": {"nme": "x"}}]}}
    )


# -- pinning a former version (`cxops rollback --to-version`) ----------------------------------------


@pytest.mark.parametrize(
    ("name", "cleared"),
    [("isvc_serverless_canary", {"canaryTrafficPercent": None}), ("isvc_standard_canary", None)],
)
def test_pin_serves_one_image_and_drops_the_canary(
    api: FakeKubeApi, backend: KServeCanaryBackend, name: str, cleared: dict[str, Any] | None
) -> None:
    isvc = fixture(name)
    api.put(isvc)
    containers = copy.deepcopy(isvc["spec"]["predictor"]["containers"])
    containers[0]["image"] = "registry.cxops.internal/cxops/churn:6"

    backend.pin("churn", "registry.cxops.internal/cxops/churn:6")

    spec = only_patch(api)["spec"]
    if cleared is None:  # Standard: the canary entry goes
        assert spec == {"predictor": {"containers": containers}, "canary": None}
    else:
        assert spec == {"predictor": {"containers": containers, **cleared}}
    predictor = stored(api)["spec"]["predictor"]
    assert predictor["containers"][0]["image"].endswith(":6") and "canaryTrafficPercent" not in predictor
    assert "canary" not in stored(api)["spec"]


def test_pin_of_the_image_already_served_still_clears_the_canary(
    api: FakeKubeApi, backend: KServeCanaryBackend
) -> None:
    api.put(fixture("isvc_serverless_canary"))
    backend.pin("churn", IMAGE_8)
    assert "canaryTrafficPercent" not in stored(api)["spec"]["predictor"]
