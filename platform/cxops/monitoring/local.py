"""The drift monitor service as a local process, run from its own environment (`.venv-monitor`).

Alibi Detect 0.11.4 needs pydantic 1 and numpy < 1.25, so the service cannot run inside the platform's
environment; `make monitor-env` builds its environment and this module starts `python -m cxops_drift serve`
from it, as KServe runs a drift detector beside the predictor in a cluster.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from cxops.config import Settings
from cxops.monitoring.client import DriftMonitorClient
from cxops.monitoring.errors import MonitorUnavailableError

__all__ = [
    "DriftServiceProcess",
    "drift_python",
    "drift_service_command",
    "monitoring_dir",
    "service_environment",
    "start_drift_service",
]

MONITOR_VENV = ".venv-monitor"


def monitoring_dir(settings: Settings) -> Path:
    """`<home>/monitoring`: the drift service's state, the feed's offsets, retraining logs."""
    return settings.subdir("monitoring")


def drift_python(settings: Settings) -> Path:
    """The monitor environment's interpreter (`CXOPS_MONITOR_PYTHON` overrides the checkout's venv)."""
    configured = os.environ.get("CXOPS_MONITOR_PYTHON")
    python = Path(configured) if configured else settings.root / MONITOR_VENV / "bin" / "python"
    if not python.is_file():
        raise MonitorUnavailableError(
            f"the drift monitor's environment is missing ({python}); build it with `make monitor-env` "
            "(Alibi Detect 0.11.4 needs its own environment)"
        )
    return python


def service_environment() -> dict[str, str]:
    """This process's environment for the service, minus what would make it load the platform's packages."""
    import cxops

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PYTHONPATH"] = str(Path(cxops.__file__).resolve().parents[1])  # `platform/`, where cxops_drift lives
    return env


def drift_service_command(
    settings: Settings, *, host: str, port: int, alert_url: str = "", alert_token: str = ""
) -> list[str]:
    """`python -m cxops_drift serve` from the monitor environment, its state in `<home>/monitoring/drift`."""
    command = [str(drift_python(settings)), "-m", "cxops_drift", "serve", "--host", host, "--port", str(port)]
    command += ["--state", str(monitoring_dir(settings) / "drift")]
    if alert_url:
        command += ["--alert-url", alert_url]
    if alert_token:
        command += ["--alert-token", alert_token]
    return command


@dataclass
class DriftServiceProcess:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_drift_service(
    settings: Settings, *, url: str | None = None, startup_timeout_s: float = 120.0
) -> DriftServiceProcess:
    """Start the drift service on the host and port of `url` (default `settings.monitor_url`); wait for it."""
    url = url or settings.monitor_url
    parsed = urlparse(url)
    log = monitoring_dir(settings) / "drift-service.log"
    command = drift_service_command(settings, host=parsed.hostname or "127.0.0.1", port=parsed.port or 8091)
    env = service_environment()
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    service = DriftServiceProcess(process, url, log)
    deadline = time.monotonic() + startup_timeout_s
    with DriftMonitorClient(url) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise MonitorUnavailableError(
                    f"the drift monitor exited with code {process.returncode} at start; see {log}"
                )
            if client.healthy():
                return service
            time.sleep(0.5)
    service.stop()
    raise MonitorUnavailableError(
        f"the drift monitor did not answer on {url} within {startup_timeout_s:.0f} s; see {log}"
    )
