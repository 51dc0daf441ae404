"""The RayJob entrypoint (`python -m cxops.training.remote`) and the whole RayJob training step, for real
except for Kubernetes.

The round trip: the pipeline's entity frame for churn (generated rows, real Feast store), staged on
file:// URIs; `train_on_rayjob` submits the RayJob to a fake KubeRay API server on loopback that runs the
manifest's entrypoint as a process, against a local two-node Ray cluster laid out like the RayJob's (a
head with no CPUs for Ray work, one worker node with the spec's CPUs); the entrypoint connects with
`ray_address=auto` (RAY_ADDRESS, as a Ray job's driver gets it), trains with the real training step and
uploads its outputs, which the step downloads. What is not exercised: KubeRay itself, pods, images and
object storage other than file://.
"""

from __future__ import annotations

import copy
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from kubernetes import client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cxops.config import Settings
from cxops.serving.thread_server import ThreadServer
from cxops.training import remote, staging
from cxops.training.rayjob import RayJobClient, train_on_rayjob

NS = "cx-train"


def test_help_explains_the_entrypoint(capsys):
    with pytest.raises(SystemExit) as done:
        remote.main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "--model" in text and "--staging" in text and "STAGING/outputs/" in text


def test_missing_inputs_fail_with_the_uri(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CXOPS_HOME", str(tmp_path / "home"))
    prefix = staging.join_uri((tmp_path / "bucket").as_uri(), "rayjobs", "cxops-train-churn-1")

    assert remote.main(["--model", "churn", "--staging", prefix]) == 1

    err = capsys.readouterr().err
    assert "training 'churn' failed" in err and remote.StagedRun(prefix).entities in err


def test_summaries_are_made_json_safe():
    import numpy as np

    summary = {"auc": float("nan"), "n": np.int64(3), "t": np.float32(0.5), "p": Path("/x"), "l": (1, np.inf)}
    assert remote.json_safe(summary) == {"auc": None, "n": 3, "t": 0.5, "p": "/x", "l": [1, None]}
    json.dumps(remote.json_safe(summary), allow_nan=False)


# -- the round trip -------------------------------------------------------------------------------------


class FakeKubeRayRunner:
    """Accepts RayJobs and runs each one's entrypoint as a local process, with the platform settings in
    its environment (the pods' envFrom) and the Ray cluster's address (as KubeRay's job driver gets it);
    reports KubeRay's status from the process."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.objects: dict[str, dict[str, Any]] = {}
        self.processes: dict[str, subprocess.Popen] = {}
        self.entrypoints: list[list[str]] = []
        base = "/apis/ray.io/v1/namespaces/{namespace}/rayjobs"
        self.app = Starlette(
            routes=[
                Route(base, self.create, methods=["POST"]),
                Route(base + "/{name}", self.item, methods=["GET", "DELETE"]),
            ]
        )

    async def create(self, request: Request) -> JSONResponse:
        body = await request.json()
        name = body["metadata"]["name"]
        command = shlex.split(body["spec"]["entrypoint"])
        self.entrypoints.append(command)
        assert command[:3] == ["python", "-m", "cxops.training.remote"], command
        log = (self.logs / f"{name}.log").open("w")
        self.processes[name] = subprocess.Popen(
            [sys.executable, *command[1:]], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        self.objects[name] = copy.deepcopy(body)
        return JSONResponse(body, status_code=201)

    async def item(self, request: Request) -> JSONResponse:
        name = request.path_params["name"]
        if name not in self.objects:
            return JSONResponse({"kind": "Status", "code": 404, "details": {"name": name}}, status_code=404)
        process = self.processes[name]
        if request.method == "DELETE":
            process.kill()
            process.wait()
            del self.objects[name]
            return JSONResponse({"kind": "Status", "status": "Success"})
        code = process.poll()
        if code is None:
            status = {"jobDeploymentStatus": "Running", "jobStatus": "RUNNING"}
        elif code == 0:
            status = {"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"}
        else:
            tail = (self.logs / f"{name}.log").read_text()[-3000:]
            message = f"Job entrypoint command failed with exit code {code}: {tail}"
            status = {"jobDeploymentStatus": "Failed", "jobStatus": "FAILED", "message": message}
        return JSONResponse({**self.objects[name], "status": status})

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def churn_entities(tmp_path_factory) -> tuple[Settings, Path]:
    """The churn pipeline up to its train step: generated rows, features in a real (embedded) Feast store,
    the entity frame the train step receives."""
    from cxops.lifecycle import steps

    tmp = tmp_path_factory.mktemp("rayjob-churn")
    settings = Settings(home=tmp / "home", staging_uri=(tmp / "bucket").as_uri(), rayjob_namespace=NS)
    dataset = steps.ingest("churn", settings, rows=400, seed=7)
    entities = tmp / "entities.parquet"
    steps.build_features("churn", dataset["path"], str(entities), settings)
    return settings, entities


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """A head node with no CPUs for Ray work and one worker node with churn's one CPU, like the RayJob's."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        yield cluster.address
    finally:
        cluster.shutdown()


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.full
def test_the_rayjob_step_trains_remotely_and_brings_the_outputs_home(churn_entities, ray_cluster, tmp_path):
    from cxops.modeling import load_classifier
    from cxops.specs import load_spec

    settings, entities = churn_entities
    env = {**os.environ, **settings.to_env(), "RAY_ADDRESS": ray_cluster, "RAY_USAGE_STATS_ENABLED": "0"}
    fake = FakeKubeRayRunner(env, tmp_path)
    heard: list[str] = []
    out = tmp_path / "step"
    with ThreadServer(fake.app) as api:
        configuration = client.Configuration(host=api.url)
        configuration.retries = 0
        try:
            summary = train_on_rayjob(
                "churn",
                settings,
                entities_path=str(entities),
                model_dir=str(out / "model"),
                test_path=str(out / "test.parquet"),
                train_path=str(out / "train.parquet"),
                client=RayJobClient(NS, client.ApiClient(configuration), request_timeout=10),
                progress=heard.append,
                timeout_s=420,
                poll_s=0.5,
            )
        finally:
            fake.stop()

    (name,) = fake.objects
    assert summary["rayjob"] == name
    ((_, _, _, _, model_arg, _, prefix),) = fake.entrypoints
    assert model_arg == "churn" and prefix == staging.join_uri(settings.staging_uri, "rayjobs", name)
    # Trained on the Ray cluster it was pointed at, not on a Ray of its own.
    assert summary["ray"]["backend"] == "ray"
    assert (
        summary["ray"]["cluster"]["address"] == "auto" and summary["ray"]["cluster"]["started_here"] is False
    )
    assert summary["ray"]["cluster"]["resources"]["CPU"] == 1.0
    assert summary["ray"]["num_workers"] == 1 and summary["ray"]["use_gpu"] is False
    # The outputs came home: a model that scores the held-out split, and both splits of the entity frame.
    test, train = pd.read_parquet(out / "test.parquet"), pd.read_parquet(out / "train.parquet")
    assert len(test) + len(train) == len(pd.read_parquet(entities))
    assert json.loads((out / "model" / "training.json").read_text())["threshold"] == summary["threshold"]
    assert set(load_spec("churn", settings).features.names) <= set(test.columns)
    scores = load_classifier(out / "model").predict_proba(test)
    assert len(scores) == len(test) and ((scores >= 0) & (scores <= 1)).all()
    # The staged files were removed once fetched.
    assert not staging.exists(prefix, settings)
    assert any("SUCCEEDED" in m for m in heard)
