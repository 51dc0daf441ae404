"""Retraining launchers against real peers on this machine.

Local: real detached processes. KFP and Argo: the real clients (`kfp.Client`, Hera's `WorkflowsService`)
talk to stub servers on loopback that answer the REST calls they make (KFP v2beta1; Argo
`/api/v1/workflows/{namespace}`) with objects shaped like the servers' and record every request, so the
tests pin what goes over the wire. No cluster is involved: what KFP or Argo then run is not exercised.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from cxops.config import Settings
from cxops.errors import CXOpsError, InvalidInputError
from cxops.lifecycle.pipeline import COMPILED_PIPELINE
from cxops.monitoring import launchers
from cxops.monitoring.launchers import (
    KFP_EXPERIMENT,
    ArgoLauncher,
    KFPLauncher,
    LaunchedRun,
    LocalLauncher,
    RetrainLaunchError,
    launcher,
)

# -- a recording stub server -------------------------------------------------------------------------


class StubServer:
    """An HTTP server on a free loopback port: `routes[(method, path)]` answers `(status, json body)` or a
    callable of the request; every request is recorded with its parsed JSON body."""

    def __init__(self, routes: dict[tuple[str, str], Any]) -> None:
        self.routes = routes
        self.requests: list[dict[str, Any]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                request = {
                    "method": self.command,
                    "path": url.path,
                    "query": parse_qs(url.query),
                    "headers": dict(self.headers),
                    "body": json.loads(raw) if raw else None,
                }
                stub.requests.append(request)
                route = stub.routes.get((self.command, url.path), (404, {"message": "no route"}))
                status, body = route(request) if callable(route) else route
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:  # keep the test output clean
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> StubServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def calls(self, method: str, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == method and r["path"] == path]


def unreachable_url() -> str:
    """A loopback URL nothing listens on (a port just freed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


# -- local -------------------------------------------------------------------------------------------


def python_command(code: str):
    """A local command running `code` with the model, trigger and parameters as arguments."""

    def build(model: str, *, trigger: str, run_name: str, parameters: Mapping[str, object]) -> list[str]:
        return [sys.executable, "-c", code, model, trigger, run_name, json.dumps(dict(parameters))]

    return build


def wait_exited(local: LocalLauncher, pid: str, within: float = 20.0) -> launchers.LocalRunStatus:
    deadline = time.monotonic() + within
    while (status := local.poll(pid)).running:
        assert time.monotonic() < deadline, f"process {pid} still runs after {within} s"
        time.sleep(0.02)
    return status


REPORT = (
    "import os, sys; print('argv', sys.argv[1:]); print('home', os.environ['CXOPS_HOME']); "
    "print('session', os.getsid(0) == os.getpid()); print('cwd', os.getcwd()); sys.exit(3)"
)


def test_local_launch_runs_detached_with_the_settings_and_logs_to_the_home(settings):
    local = LocalLauncher(settings, python_command(REPORT))
    run = local.launch("churn", trigger="alert:12", run_name="retrain-12", parameters={"rows": 800})

    assert run.backend == "local" and run.run_name == "retrain-12" and run.url is None
    status = wait_exited(local, run.external_id)
    assert status.exit_code == 3 and status.pid == int(run.external_id)
    log = settings.home_dir / "monitoring" / "retrain" / "retrain-12.log"
    assert str(log) in run.detail
    text = log.read_text()
    assert "# retrain retrain-12: model=churn trigger=alert:12" in text
    assert "argv ['churn', 'alert:12', 'retrain-12', '{\"rows\": 800}']" in text
    assert f"home {settings.home_dir}" in text
    assert "session True" in text  # its own session: it outlives the process that started it
    assert f"cwd {settings.root.resolve()}" in text


def test_local_poll_reports_running_then_the_signal_that_ended_it(settings):
    local = LocalLauncher(settings, python_command("import time; time.sleep(60)"))
    run = local.launch("churn", trigger="", run_name="long", parameters={})
    pid = int(run.external_id)
    try:
        assert local.poll(run.external_id) == launchers.LocalRunStatus(pid, True, None)
        # another launcher of the same process reads the same child
        other = LocalLauncher(settings, python_command("pass"))
        assert other.poll(run.external_id).running
    finally:
        os.kill(pid, signal.SIGKILL)
    assert wait_exited(local, run.external_id).exit_code == -signal.SIGKILL


def test_local_poll_of_a_process_started_elsewhere_reads_proc(settings):
    local = LocalLauncher(settings, python_command("pass"))
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert local.poll(str(other.pid)) == launchers.LocalRunStatus(other.pid, True, None)
        other.kill()  # exited, not yet reaped by its parent: a zombie is not running
        assert wait_exited(local, str(other.pid)) == launchers.LocalRunStatus(other.pid, False, None)
        assert Path(f"/proc/{other.pid}").exists()
    finally:
        other.kill()
        other.wait()
    assert local.poll(str(other.pid)) == launchers.LocalRunStatus(other.pid, False, None)


def test_local_launch_refuses_bad_names_and_reports_a_missing_program(settings):
    local = LocalLauncher(settings, lambda model, **_: ["/nonexistent/cxops-retrain", model])
    with pytest.raises(InvalidInputError, match="run name '../x'"):
        local.launch("churn", trigger="t", run_name="../x", parameters={})
    with pytest.raises(InvalidInputError, match="model name 'Churn!'"):
        local.launch("Churn!", trigger="t", run_name="r1", parameters={})
    with pytest.raises(InvalidInputError, match="trigger cannot be given in parameters"):
        local.launch("churn", trigger="t", run_name="r1", parameters={"trigger": "x"})
    with pytest.raises(RetrainLaunchError, match="cannot start the local retraining of model 'churn'") as err:
        local.launch("churn", trigger="t", run_name="r1", parameters={})
    assert err.value.status_code == 500
    with pytest.raises(InvalidInputError, match="not a process id"):
        local.poll("abc")


# -- Kubeflow Pipelines ------------------------------------------------------------------------------


class FakeKFP:
    """The KFP v2beta1 REST calls `kfp.Client.create_run_from_pipeline_package` makes."""

    def __init__(self) -> None:
        self.experiments: list[dict[str, Any]] = []
        self.fail: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
        api = "/apis/v2beta1"
        routes = {
            ("GET", f"{api}/healthz"): self._route("GET", f"{api}/healthz", self.healthz),
            ("GET", f"{api}/experiments"): self._route("GET", f"{api}/experiments", self.list_experiments),
            ("POST", f"{api}/experiments"): self._route("POST", f"{api}/experiments", self.create_experiment),
            ("POST", f"{api}/runs"): self._route("POST", f"{api}/runs", self.create_run),
        }
        self.stub = StubServer(routes)

    def _route(self, method: str, path: str, handler):
        def answer(request):
            return self.fail.get((method, path)) or handler(request)

        return answer

    def healthz(self, request):
        return 200, {"multi_user": False, "pipeline_store": "database"}

    def list_experiments(self, request):
        wanted = json.loads(request["query"]["filter"][0])["predicates"][0]["stringValue"]
        found = [e for e in self.experiments if e["display_name"] == wanted]
        return 200, ({"experiments": found, "total_size": len(found)} if found else {})

    def create_experiment(self, request):
        experiment = {**request["body"], "experiment_id": f"exp-{len(self.experiments) + 1}"}
        experiment["storage_state"] = "AVAILABLE"
        self.experiments.append(experiment)
        return 200, experiment

    def create_run(self, request):
        run = {**request["body"], "run_id": "8c1f2a9e-run", "state": "PENDING"}
        return 200, run


@pytest.fixture
def kfp_server() -> Iterator[FakeKFP]:
    fake = FakeKFP()
    with fake.stub:
        yield fake


def without_caching(spec: dict[str, Any]) -> dict[str, Any]:
    """The compiled spec as it must reach KFP for a retraining: every task's cache off."""
    for task in spec["root"]["dag"]["tasks"].values():
        task["cachingOptions"] = {}
    return spec


def test_kfp_launch_submits_the_compiled_pipeline_with_the_trigger(kfp_server, settings, capsys):
    settings = settings.model_copy(update={"kfp_host": kfp_server.stub.url + "/"})
    run = KFPLauncher(settings).launch(
        "churn", trigger="alert:12", run_name="retrain-churn-12", parameters={"rows": 800, "seed": 3}
    )

    assert run == LaunchedRun(
        "kfp",
        "8c1f2a9e-run",
        "retrain-churn-12",
        f"{kfp_server.stub.url}/#/runs/details/8c1f2a9e-run",
        f"KFP run 8c1f2a9e-run of training_pipeline.yaml in experiment '{KFP_EXPERIMENT}' at "
        f"{kfp_server.stub.url}",
    )
    created = kfp_server.stub.calls("POST", "/apis/v2beta1/experiments")
    assert [c["body"]["display_name"] for c in created] == [KFP_EXPERIMENT]
    (posted,) = kfp_server.stub.calls("POST", "/apis/v2beta1/runs")
    body = posted["body"]
    assert body["display_name"] == "retrain-churn-12"
    assert body["experiment_id"] == "exp-1"
    assert body["runtime_config"]["parameters"] == {
        "model": "churn",
        "trigger": "alert:12",
        "rows": 800,
        "seed": 3,
    }
    compiled, platform = yaml.safe_load_all((settings.root / COMPILED_PIPELINE).read_text())
    # the steps' Kubernetes settings (the platform ConfigMap and Secret as env) go with the pipeline
    assert body["pipeline_spec"] == {"pipeline_spec": without_caching(compiled), "platform_spec": platform}
    assert "trigger" in compiled["root"]["inputDefinitions"]["parameters"]

    # a second retraining joins the same experiment instead of creating another
    KFPLauncher(settings).launch("intent", trigger="alert:13", run_name="retrain-intent-13", parameters={})
    assert len(kfp_server.stub.calls("POST", "/apis/v2beta1/experiments")) == 1
    second = kfp_server.stub.calls("POST", "/apis/v2beta1/runs")[1]["body"]
    assert second["experiment_id"] == "exp-1"
    assert second["runtime_config"]["parameters"] == {"model": "intent", "trigger": "alert:13"}


def test_kfp_refusal_names_the_host_and_the_fix(kfp_server, settings):
    settings = settings.model_copy(update={"kfp_host": kfp_server.stub.url})
    kfp_server.fail[("POST", "/apis/v2beta1/runs")] = (
        400,
        {"error_message": "Invalid input error: unknown parameter", "code": 3},
    )
    with pytest.raises(RetrainLaunchError) as err:
        KFPLauncher(settings).launch("churn", trigger="alert:1", run_name="r1", parameters={})
    assert err.value.status_code == 502
    message = err.value.message
    assert f"Kubeflow Pipelines at {kfp_server.stub.url}" in message and "model 'churn'" in message
    assert "400: Invalid input error: unknown parameter" in message and "cxops pipeline compile" in message


def test_kfp_health_refusal_fails_at_once_without_a_run(kfp_server, settings):
    settings = settings.model_copy(update={"kfp_host": kfp_server.stub.url})
    kfp_server.fail[("GET", "/apis/v2beta1/healthz")] = (403, {"message": "RBAC: access denied"})
    started = time.monotonic()
    with pytest.raises(RetrainLaunchError, match="answered 403 on .*/apis/v2beta1/healthz.*CXOPS_KFP_HOST"):
        KFPLauncher(settings).launch("churn", trigger="alert:1", run_name="r1", parameters={})
    assert time.monotonic() - started < 5  # kfp.Client's own check would retry for 25 s
    assert not kfp_server.stub.calls("POST", "/apis/v2beta1/runs")


def test_kfp_unreachable_is_503_naming_the_host(settings):
    host = unreachable_url()
    with pytest.raises(RetrainLaunchError, match=f"cannot reach Kubeflow Pipelines at {host}") as err:
        KFPLauncher(settings.model_copy(update={"kfp_host": host})).launch(
            "churn", trigger="alert:1", run_name="r1", parameters={}
        )
    assert err.value.status_code == 503 and "CXOPS_KFP_HOST" in err.value.message


def test_kfp_refuses_a_parameter_the_pipeline_does_not_declare_before_any_request(settings):
    def no_client(host: str):
        raise AssertionError("no KFP request may be made")

    kfp = KFPLauncher(settings, client_factory=no_client)
    assert {"model", "trigger", "data_path", "rows", "seed"} <= kfp.pipeline_inputs()
    with pytest.raises(InvalidInputError, match="has no parameter 'epochs'.*model 'churn'"):
        kfp.launch("churn", trigger="alert:1", run_name="r1", parameters={"epochs": 3})
    missing = KFPLauncher(settings, client_factory=no_client, pipeline_file=settings.home_dir / "none.yaml")
    with pytest.raises(RetrainLaunchError, match="no compiled training pipeline at .*cxops pipeline compile"):
        missing.launch("churn", trigger="alert:1", run_name="r1", parameters={})


# -- Argo Workflows ----------------------------------------------------------------------------------


def argo_create(request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """What the Argo server answers to a create: the Workflow, named from its generateName."""
    workflow = request["body"]["workflow"]
    meta = workflow["metadata"]
    named = {**meta, "name": meta["generateName"] + "x7k2p", "uid": "5f0c", "resourceVersion": "1"}
    return 200, {**workflow, "metadata": named}


def test_argo_launch_submits_the_retrain_workflow(settings):
    path = "/argo/api/v1/workflows/cx-jobs"  # an Argo server behind a path prefix
    with StubServer({("POST", path): argo_create}) as argo:
        settings = settings.model_copy(
            update={"argo_server": argo.url + "/argo", "argo_namespace": "cx-jobs"}
        )
        run = ArgoLauncher(settings, token="s3cret").launch(
            "churn", trigger="alert:12", run_name="retrain-churn-12", parameters={"rows": 800}
        )
    assert run.backend == "argo" and run.external_id == "cxops-retrain-churn-x7k2p"
    assert run.url == f"{argo.url}/argo/workflows/cx-jobs/cxops-retrain-churn-x7k2p"
    (request,) = argo.requests
    assert request["path"] == path and request["headers"]["Authorization"] == "Bearer s3cret"
    workflow = request["body"]["workflow"]
    assert workflow["kind"] == "Workflow" and workflow["apiVersion"] == "argoproj.io/v1alpha1"
    meta = workflow["metadata"]
    assert meta["generateName"] == "cxops-retrain-churn-" and meta["namespace"] == "cx-jobs"
    assert meta["labels"]["cxops.io/model"] == "churn" and meta["labels"]["cxops.io/trigger"] == "alert-12"
    assert meta["annotations"] == {"cxops.io/trigger": "alert:12", "cxops.io/run-name": "retrain-churn-12"}
    spec = workflow["spec"]
    assert spec["arguments"]["parameters"] == [
        {"name": "model", "value": "churn"},
        {"name": "trigger", "value": "alert:12"},
        {"name": "rows", "value": "800"},
    ]
    container = spec["templates"][0]["container"]
    assert container["image"] == settings.platform_image
    assert container["command"] + container["args"] == [
        "cxops",
        "pipeline",
        "run",
        "{{workflow.parameters.model}}",
        "--trigger",
        "{{workflow.parameters.trigger}}",
        "--rows",
        "{{workflow.parameters.rows}}",
    ]


def test_argo_refusal_names_the_namespace_and_the_fix(settings):
    forbidden = (403, {"code": 7, "message": 'workflows.argoproj.io is forbidden: User "x" cannot create'})
    with StubServer({("POST", "/api/v1/workflows/cxops"): forbidden}) as argo:
        settings = settings.model_copy(update={"argo_server": argo.url})
        with pytest.raises(RetrainLaunchError) as err:
            ArgoLauncher(settings).launch("churn", trigger="alert:1", run_name="r1", parameters={})
    assert err.value.status_code == 502
    message = err.value.message
    assert f"the Argo server at {argo.url}/" in message and "namespace 'cxops'" in message
    assert "cannot create" in message and "verb create on workflows.argoproj.io" in message


def test_argo_unreachable_is_503_and_bad_parameters_never_leave(settings):
    host = unreachable_url()
    argo = ArgoLauncher(settings.model_copy(update={"argo_server": host}))
    with pytest.raises(RetrainLaunchError, match=f"cannot reach the Argo server at {host}/") as err:
        argo.launch("churn", trigger="alert:1", run_name="r1", parameters={})
    assert err.value.status_code == 503 and "CXOPS_ARGO_SERVER" in err.value.message
    with pytest.raises(InvalidInputError, match="has no parameter 'epochs'"):
        argo.launch("churn", trigger="alert:1", run_name="r1", parameters={"epochs": 3})


# -- choice ------------------------------------------------------------------------------------------


def test_launcher_follows_the_retrain_backend(settings):
    command = python_command("pass")
    assert isinstance(launcher(settings, local_command=command), LocalLauncher)
    assert isinstance(launcher(settings.model_copy(update={"retrain_backend": "kfp"})), KFPLauncher)
    argo = launcher(settings.model_copy(update={"retrain_backend": "argo"}), argo_token="t")
    assert isinstance(argo, ArgoLauncher) and argo.token == "t"
    with pytest.raises(CXOpsError, match="needs its command line: pass local_command"):
        launcher(settings)
