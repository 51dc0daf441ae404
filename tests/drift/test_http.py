"""The HTTP API on a real uvicorn server (loopback), fed CloudEvents in every mode, with the alert webhook."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from cxops_drift.app import create_app
from cxops_drift.service import DriftService

pytestmark = pytest.mark.integration

REQUEST = "org.kubeflow.serving.inference.request"
TOKEN = "s3cret-token"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def _serve(state: Path, **alerts: Any) -> Iterator[tuple[httpx.Client, DriftService]]:
    service = DriftService(state, **alerts)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the drift monitor did not start"
        time.sleep(0.05)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client, service
    finally:
        server.should_exit = True
        thread.join(timeout=30)


class _Webhook:
    """A local alert receiver; answers 503 to the first `fail_first` deliveries."""

    def __init__(self, fail_first: int = 1) -> None:
        self.received: list[tuple[int, dict[str, str], dict]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                status = 503 if len(owner.received) < fail_first else 200
                owner.received.append((status, dict(self.headers), body))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/monitoring/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int) -> list[tuple[int, dict[str, str], dict]]:
        """The deliveries, once there are `count` (an alert goes out after its result is stored)."""
        deadline = time.monotonic() + 30
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _columns(rows: list[dict]) -> dict:
    """A V2 request: one column tensor per feature, shape [n, 1] for numbers and [n] for strings."""
    inputs = []
    for name in rows[0]:
        values = [r[name] for r in rows]
        if isinstance(values[0], str):
            inputs.append({"name": name, "datatype": "BYTES", "shape": [len(values)], "data": values})
        else:
            inputs.append({"name": name, "datatype": "FP64", "shape": [len(values), 1], "data": values})
    inputs.append(
        {"name": "customer_id", "datatype": "BYTES", "shape": [len(rows)], "data": ["c"] * len(rows)}
    )
    return {"inputs": inputs}


def _event(data: Any, id: str, model: str = "churn", kind: str = REQUEST) -> dict:
    return {
        "specversion": "1.0",
        "id": id,
        "type": kind,
        "source": "http://churn-predictor.cxops/",
        "inferenceservicename": model,
        "cxopsversion": "7",
        "data": data,
    }


def _results(client: httpx.Client, count: int, after: int = 0) -> list[dict]:
    deadline = time.monotonic() + 60
    while True:
        found = client.get("/v1/results", params={"model": "churn", "after": after}).json()["results"]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_events_in_every_mode_results_metrics_and_alerts(
    tmp_path: Path, tabular_bundle: Callable[..., Path], churn_data
) -> None:
    webhook = _Webhook(fail_first=1)
    bundle = tabular_bundle()
    state = tmp_path / "state"
    with contextlib.closing(webhook), _serve(state, alert_url=webhook.url, alert_token=TOKEN) as (client, _):
        register = {"model": "churn", "version": "7", "bundle": str(bundle)}
        assert client.post("/v1/detectors", json=register).status_code == 201
        assert client.post("/v1/detectors", json=register).status_code == 200
        missing = client.post(
            "/v1/detectors", json=register | {"version": "8", "bundle": str(tmp_path / "no")}
        )
        assert missing.status_code == 404 and "not found" in missing.json()["error"]
        (listed,) = client.get("/v1/detectors").json()
        assert listed | {"registered_at": None} == listed | {
            "model": "churn",
            "version": "7",
            "kind": "tabular",
            "detector": "tabular",
            "window_rows": 0,
            "window_size": 300,
            "windows_tested": 0,
            "registered_at": None,
        }

        # one calm window, in three modes: binary (V2 tensors), structured (V1 instances), batch (JSON rows)
        rows = churn_data.rows(300)
        headers = {f"ce-{k}": str(v) for k, v in _event(None, "b1").items() if k != "data"}
        binary = client.post("/", json=_columns(rows[:100]), headers=headers)
        assert binary.status_code == 202 and binary.json() == {"accepted": 100, "ignored": 0}
        structured = client.post(
            "/",
            content=json.dumps(_event({"instances": rows[100:200]}, "s1")),
            headers={"content-type": "application/cloudevents+json"},
        )
        assert structured.json() == {"accepted": 100, "ignored": 0}
        batch = [
            _event({"rows": rows[200:250]}, "m1"),
            _event({"predictions": [0.1]}, "m1", kind="org.kubeflow.serving.inference.response"),
            _event({"rows": rows[250:300]}, "m2"),
            _event({"rows": rows[:10]}, "m3", model="sentiment"),
            _event({"customer_ids": ["c1"]}, "m4"),
        ]
        sent = client.post(
            "/", content=json.dumps(batch), headers={"content-type": "application/cloudevents-batch+json"}
        )
        assert sent.status_code == 202 and sent.json() == {"accepted": 100, "ignored": 2}
        (calm,) = _results(client, 1)
        assert calm["verdict"] == "no_drift" and calm["seq"] == 1 and calm["window"]["rows"] == 300

        # a drifted window: its alert fails once (503) and goes out again with the next result
        shifted = [_event({"rows": churn_data.rows(150, shifted=True)}, f"d{i}") for i in range(2)]
        client.post(
            "/", content=json.dumps(shifted), headers={"content-type": "application/cloudevents-batch+json"}
        )
        (drift,) = _results(client, 1, after=1)
        assert drift["verdict"] == "drift" and drift["drifted_features"] == [
            "tenure",
            "MonthlyCharges",
            "Contract",
        ]
        assert [status for status, _, _ in webhook.wait(1)] == [503]
        client.post("/", json={"rows": churn_data.rows(120)}, headers=headers)
        evaluated = client.post("/v1/evaluate", json={"model": "churn"})
        assert evaluated.status_code == 200
        (partial,) = evaluated.json()["results"]
        assert partial["seq"] == 3 and partial["window"]["rows"] == 120 and partial["verdict"] == "no_drift"
        assert [status for status, _, _ in webhook.received] == [503, 200]
        _, alert_headers, alert = webhook.received[1]
        assert alert_headers["Authorization"] == f"Bearer {TOKEN}"
        assert alert["source"] == "cxops-drift" and alert["result"]["seq"] == 2
        assert alert["result"]["verdict"] == "drift"

        metrics = client.get("/metrics").text
        assert 'cxops_drift_windows_tested_total{model="churn",verdict="drift",version="7"} 1.0' in metrics
        assert 'cxops_drift_windows_tested_total{model="churn",verdict="no_drift",version="7"} 2.0' in metrics
        assert 'cxops_drift_detected{model="churn",version="7"} 0.0' in metrics
        assert 'cxops_drift_feature_p_value{feature="tenure",model="churn",version="7"}' in metrics
        assert 'cxops_drift_events_total{outcome="unknown_model"} 1.0' in metrics
        assert 'cxops_drift_alerts_total{outcome="failed"} 1.0' in metrics
        assert 'cxops_drift_alerts_total{outcome="delivered"} 1.0' in metrics
        assert "cxops_drift_detection_seconds_count" in metrics
        assert client.get("/v1/detectors").json()[0]["windows_tested"] == 3

    # a new app on the same state reloads the detector (no refit) and continues seq
    with _serve(state) as (client, service):
        assert service.fits == 0 and client.get("/healthz").json() == {
            "status": "ok",
            "detectors": 1,
            "last_seq": 3,
        }
        client.post("/", json={"rows": churn_data.rows(100)}, headers=headers)
        (after_restart,) = client.post("/v1/evaluate").json()["results"]
        assert after_restart["seq"] == 4 and after_restart["verdict"] == "no_drift"
        assert [r["seq"] for r in client.get("/v1/results", params={"limit": 2}).json()["results"]] == [1, 2]


def test_malformed_requests_get_400_with_a_message(
    tmp_path: Path, tabular_bundle: Callable[..., Path]
) -> None:
    with _serve(tmp_path / "state") as (client, _):
        client.post("/v1/detectors", json={"model": "churn", "version": "7", "bundle": str(tabular_bundle())})
        headers = {
            "ce-specversion": "1.0",
            "ce-id": "x1",
            "ce-type": REQUEST,
            "ce-source": "s",
            "ce-inferenceservicename": "churn",
            "content-type": "application/json",
        }
        cases = [
            (client.post("/", content=b"{oops", headers=headers), "event 'x1'"),
            (client.post("/", json={"rows": []}), "not a CloudEvent"),
            (client.post("/", json={"instances": "abc"}, headers=headers), "must be a list"),
            (
                client.post(
                    "/", content=b"[1", headers={"content-type": "application/cloudevents-batch+json"}
                ),
                "not valid JSON",
            ),
            (client.post("/v1/detectors", content=b"nope"), "not valid JSON"),
            (
                client.post("/v1/detectors", json={"model": "churn", "versoin": "8"}),
                "unknown keys ['versoin']",
            ),
            (client.get("/v1/results", params={"after": "x"}), "'after' must be an integer"),
        ]
        for response, expected in cases:
            assert response.status_code == 400, response.text
            assert expected in response.json()["error"]
        unknown = client.post("/v1/evaluate", json={"model": "nope"})
        assert unknown.status_code == 404 and "model 'nope' has no detector" in unknown.json()["error"]
        assert client.get("/v2/unknown").status_code == 404 and "error" in client.get("/v2/unknown").json()
        # nothing was accepted from the refused requests
        assert client.get("/v1/detectors").json()[0]["window_rows"] == 0


def test_the_command_line_serves_and_teaches(tmp_path: Path, tabular_bundle: Callable[..., Path]) -> None:
    command = [sys.executable, "-m", "cxops_drift"]
    help_text = subprocess.run(
        [*command, "serve", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert (
        "--alert-url" in help_text and "/v1/detectors" in help_text and "CXOPS_DRIFT_ALERT_TOKEN" in help_text
    )
    checked = subprocess.run(
        [*command, "check-bundle", str(tabular_bundle())], capture_output=True, text=True
    )
    assert checked.returncode == 0 and json.loads(checked.stdout)["reference_rows_used"] == 1000
    refused = subprocess.run(
        [*command, "check-bundle", str(tmp_path / "none")], capture_output=True, text=True
    )
    assert refused.returncode == 1 and "not found" in refused.stderr

    port = _free_port()
    process = subprocess.Popen(
        [*command, "serve", "--port", str(port), "--state", str(tmp_path / "state")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            assert process.poll() is None and time.monotonic() < deadline, "`serve` did not start"
            time.sleep(0.1)
        assert health.json() == {"status": "ok", "detectors": 0, "last_seq": 0}
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0 and "drift monitor ready" in output
