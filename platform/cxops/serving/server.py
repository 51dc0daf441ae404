"""Run a model server locally: `bentoml serve` as a child process, ready when it says so.

    with start_server("cxops-churn:latest", port=0, settings=settings) as server:
        httpx.post(f"{server.url}/v2/models/churn/infer", json=...)

The target is a bento tag (or bento directory), or the service source (`serving.service:ModelService`,
then pass `args={"model": "churn"}`). The child gets the CXOps settings as `CXOPS_*` variables and
BentoML's home under the CXOps home; its output goes to a log file whose tail is quoted when it fails.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from cxops.config import Settings
from cxops.errors import CXOpsError
from cxops.serving._bentoml_env import bentoml_env

__all__ = ["ServerError", "ServerProcess", "free_port", "start_server"]


class ServerError(CXOpsError):
    status_code = 503


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class ServerProcess:
    """A running `bentoml serve`; `stop()` (or leaving the `with` block) ends its whole process group."""

    def __init__(self, process: subprocess.Popen[bytes], host: str, port: int, log_path: Path) -> None:
        self.process = process
        self.host = host
        self.port = port
        self.log_path = log_path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)

    def stop(self, timeout: float = 20.0) -> None:
        if self.process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait(5)
        # Workers outlive a killed arbiter only until they notice; make sure none is left behind.
        self._signal(signal.SIGKILL)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        url = f"{self.url}/v2/health/ready"
        with httpx.Client(timeout=2.0) as client:
            while True:
                if self.process.poll() is not None:
                    raise ServerError(
                        f"the model server exited with status {self.process.returncode} before "
                        f"it was ready; last lines of {self.log_path}:\n{self.log_tail()}"
                    )
                try:
                    if client.get(url).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise ServerError(
                        f"the model server was not ready within {timeout:.0f} s ({url}); last "
                        f"lines of {self.log_path}:\n{self.log_tail()}"
                    )
                time.sleep(0.25)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_server(
    target: str,
    port: int = 0,
    settings: Settings | None = None,
    *,
    host: str = "127.0.0.1",
    args: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120.0,
) -> ServerProcess:
    """Start `bentoml serve <target>` on `port` (0: a free one) and wait until /v2/health/ready is 200."""
    settings = settings or Settings()
    port = port or free_port(host)
    log_dir = settings.subdir("logs")
    log_path = log_dir / f"serve-{port}.log"
    command = [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        target,
        "--host",
        host,
        "--port",
        str(port),
        "--working-dir",
        str(settings.root),
    ]
    for key, value in (args or {}).items():
        command += ["--arg", f"{key}={value}"]
    child_env = {
        **os.environ,
        **settings.to_env(),
        **bentoml_env(settings),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=settings.root,
            env=child_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = ServerProcess(process, host, port, log_path)
    try:
        server.wait_ready(timeout)
    except BaseException:
        server.stop()
        raise
    return server
