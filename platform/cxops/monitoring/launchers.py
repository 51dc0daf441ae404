"""Where an alert's retraining runs (`Settings.retrain_backend`): started here, the launcher returns at once.

- local: a detached process on this machine (the caller says which command: typically the CLI step that runs
  the `kfp.local` pipeline for one retraining record), logging to `<home>/monitoring/retrain/<run>.log`;
- kfp: a run of the compiled training pipeline (`pipelines/compiled/training_pipeline.yaml`) on Kubeflow
  Pipelines, in the experiment `cxops-retraining`;
- argo: the retrain Workflow of `cxops.monitoring.workflows`, submitted to the Argo server.

Every launcher answers with a `LaunchedRun` naming the run in its backend (pid, KFP run id, Workflow name).
A backend that refuses or cannot be reached raises `RetrainLaunchError` (502, 503 when unreachable) naming
the server and the fix; an invalid request raises `InvalidInputError` before anything is started.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import yaml

from cxops.config import Settings
from cxops.errors import CXOpsError, InvalidInputError
from cxops.lifecycle.pipeline import COMPILED_PIPELINE

__all__ = [
    "KFP_EXPERIMENT",
    "ArgoLauncher",
    "KFPLauncher",
    "LaunchedRun",
    "LocalCommand",
    "LocalLauncher",
    "LocalRunStatus",
    "RetrainLaunchError",
    "RetrainLauncher",
    "launcher",
]

KFP_EXPERIMENT = "cxops-retraining"
_MODEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")  # also a file name: <run_name>.log
_RESERVED = ("model", "trigger")


class RetrainLaunchError(CXOpsError):
    """The retraining backend refused the run or could not be reached (502; 503 when unreachable)."""

    status_code = 502


@dataclass(frozen=True)
class LaunchedRun:
    """A retraining started in its backend: `external_id` is the pid, the KFP run id or the Workflow name."""

    backend: str
    external_id: str
    run_name: str
    url: str | None = None
    """Where to watch it (KFP or Argo UI); None for a local process."""
    detail: str = ""
    """A line for people: where the log is, or what was submitted where."""


class RetrainLauncher(Protocol):
    """Starts one retraining of `model` and returns without waiting for it."""

    def launch(
        self, model: str, *, trigger: str, run_name: str, parameters: dict[str, object]
    ) -> LaunchedRun: ...


class LocalCommand(Protocol):
    """Builds the command line of a local retraining (the argv of the process to start)."""

    def __call__(
        self, model: str, *, trigger: str, run_name: str, parameters: Mapping[str, object]
    ) -> Sequence[str]: ...


def _check_request(model: str, run_name: str, parameters: Mapping[str, object]) -> dict[str, object]:
    if not isinstance(model, str) or not _MODEL.match(model):
        raise InvalidInputError(
            f"model name {model!r} is not one CXOps knows how to retrain: use the name of a folder under "
            "models/ (lower-case letters, digits and '-')"
        )
    if not isinstance(run_name, str) or not _RUN_NAME.match(run_name):
        raise InvalidInputError(
            f"retrain run name {run_name!r} for model '{model}' must be 1-128 letters, digits, '.', '_' or "
            "'-', starting with a letter or digit (it also names the run's log file)"
        )
    clash = [name for name in _RESERVED if name in parameters]
    if clash:
        raise InvalidInputError(
            f"retraining of model '{model}': {', '.join(clash)} cannot be given in parameters; pass them as "
            "the model and trigger arguments"
        )
    return dict(parameters)


# -- local ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalRunStatus:
    """A local retraining process: running, or exited with `exit_code` (None when another process started
    it: only a parent can read a child's exit status; the run's log shows its output)."""

    pid: int
    running: bool
    exit_code: int | None = None


# Started processes by pid, for every launcher of this process: their exit codes can only be read here.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
_CHILDREN_LOCK = threading.Lock()


def _reap() -> None:
    """Collect the exit status of finished children so that none lingers as a zombie."""
    with _CHILDREN_LOCK:
        for child in _CHILDREN.values():
            child.poll()


class LocalLauncher:
    """Starts `command(...)` as a detached process: its own session (it outlives a CLI or API server that
    stops), stdin closed, stdout and stderr appended to `<home>/monitoring/retrain/<run_name>.log`, the
    environment of this process plus the settings' `CXOPS_*` variables, in the project root."""

    backend = "local"

    def __init__(self, settings: Settings, command: LocalCommand) -> None:
        self.settings = settings
        self.command = command

    def log_path(self, run_name: str) -> Path:
        return self.settings.subdir("monitoring") / "retrain" / f"{run_name}.log"

    def launch(
        self, model: str, *, trigger: str, run_name: str, parameters: dict[str, object]
    ) -> LaunchedRun:
        parameters = _check_request(model, run_name, parameters)
        argv = [
            str(part)
            for part in self.command(model, trigger=trigger, run_name=run_name, parameters=parameters)
        ]
        if not argv:
            raise InvalidInputError(f"the local retrain command for model '{model}' is empty")
        log = self.log_path(run_name)
        log.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.settings.to_env(), "PYTHONUNBUFFERED": "1"}
        _reap()
        with log.open("ab") as out:
            out.write(f"# retrain {run_name}: model={model} trigger={trigger or 'manual'}\n".encode())
            out.flush()
            child = self._start(argv, out, env, model)
        with _CHILDREN_LOCK:
            _CHILDREN[child.pid] = child
        return LaunchedRun(self.backend, str(child.pid), run_name, None, f"pid {child.pid}, log {log}")

    def _start(
        self, argv: list[str], out: IO[bytes], env: dict[str, str], model: str
    ) -> subprocess.Popen[bytes]:
        try:
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.settings.root,
                start_new_session=True,
            )
        except OSError as error:
            raise RetrainLaunchError(
                f"cannot start the local retraining of model '{model}' ({argv[0]}: {error}); check the "
                "command and the project root",
                status_code=500,
            ) from error

    def poll(self, external_id: str) -> LocalRunStatus:
        """The state of a run by its pid: exit code when started by this process, else read from /proc."""
        try:
            pid = int(external_id)
        except (TypeError, ValueError):
            raise InvalidInputError(f"local retrain run id {external_id!r} is not a process id") from None
        with _CHILDREN_LOCK:
            child = _CHILDREN.get(pid)
            code = None if child is None else child.poll()
        if child is not None:
            return LocalRunStatus(pid, code is None, code)
        return LocalRunStatus(pid, _alive(pid))


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie has exited: only its parent can read how)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc here: ask the kernel directly
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


# -- Kubeflow Pipelines --------------------------------------------------------------------------


def _kfp_client(host: str, timeout: float) -> Any:
    """`kfp.Client(host=host)`, after a quick health probe: the client's own check retries every error five
    times five seconds apart before it fails."""
    import httpx

    url = f"{host.rstrip('/')}/apis/v2beta1/healthz"
    try:
        answer = httpx.get(url, timeout=timeout)
    except httpx.HTTPError as error:
        raise _kfp_unreachable(host, error) from error
    if answer.status_code != 200:
        raise RetrainLaunchError(
            f"Kubeflow Pipelines at {host} answered {answer.status_code} on {url} ({answer.text[:200]!r}); "
            "point CXOPS_KFP_HOST at the KFP API (ml-pipeline, port 8888) reachable without a login proxy"
        )
    import kfp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # "This client only works with KFP v2.0.0-beta.2..."
        return kfp.Client(host=host)


def _kfp_unreachable(host: str, error: Exception) -> RetrainLaunchError:
    return RetrainLaunchError(
        f"cannot reach Kubeflow Pipelines at {host} ({type(error).__name__}: {error}); check CXOPS_KFP_HOST "
        "and that the KFP API server (ml-pipeline) is running, or set CXOPS_RETRAIN_BACKEND=local",
        status_code=503,
    )


def _api_message(body: object) -> str:
    try:
        data = json.loads(body) if body else {}
    except (TypeError, ValueError):
        return str(body)[:300]
    if isinstance(data, dict):
        return str(data.get("error_message") or data.get("message") or data)[:300]
    return str(data)[:300]


class KFPLauncher:
    """Runs the compiled training pipeline on Kubeflow Pipelines (`Settings.kfp_host`), caching off.

    Caching is off for retraining: with the same arguments KFP would reuse the last run's ingest output
    instead of reading the fresh data at the same path. `client_factory(host)` builds the `kfp.Client`
    (default: a health probe, then `kfp.Client(host=host)`).
    """

    backend = "kfp"

    def __init__(
        self,
        settings: Settings,
        client_factory: Callable[[str], Any] | None = None,
        *,
        pipeline_file: Path | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.host = settings.kfp_host.rstrip("/")
        self.pipeline_file = pipeline_file or settings.root / COMPILED_PIPELINE
        self.client_factory = client_factory or (lambda host: _kfp_client(host, timeout))

    def pipeline_inputs(self) -> set[str]:
        """The parameter names the compiled pipeline declares."""
        if not self.pipeline_file.is_file():
            raise RetrainLaunchError(
                f"no compiled training pipeline at {self.pipeline_file}; run `cxops pipeline compile`",
                status_code=500,
            )
        spec = next(yaml.safe_load_all(self.pipeline_file.read_text()))
        return set(spec["root"].get("inputDefinitions", {}).get("parameters", {}))

    def launch(
        self, model: str, *, trigger: str, run_name: str, parameters: dict[str, object]
    ) -> LaunchedRun:
        import kfp_server_api
        from urllib3.exceptions import HTTPError

        arguments = {"model": model, "trigger": trigger, **_check_request(model, run_name, parameters)}
        missing = sorted(set(arguments) - self.pipeline_inputs())
        if missing:
            raise InvalidInputError(
                f"the compiled training pipeline {self.pipeline_file} has no parameter "
                f"{', '.join(map(repr, missing))} (retraining of model '{model}'); if the pipeline has it, "
                "recompile with `cxops pipeline compile`"
            )
        try:
            client = self.client_factory(self.host)
            result = client.create_run_from_pipeline_package(
                str(self.pipeline_file),
                arguments=arguments,
                run_name=run_name,
                experiment_name=KFP_EXPERIMENT,
                enable_caching=False,
            )
        except kfp_server_api.ApiException as error:
            raise self._error(error, model) from error
        except (HTTPError, TimeoutError) as error:
            raise _kfp_unreachable(self.host, error) from error
        run_id = str(result.run_id)
        return LaunchedRun(
            self.backend,
            run_id,
            run_name,
            f"{self.host}/#/runs/details/{run_id}",
            f"KFP run {run_id} of {self.pipeline_file.name} in experiment '{KFP_EXPERIMENT}' at {self.host}",
        )

    def _error(self, error: Any, model: str) -> RetrainLaunchError:
        code, message = error.status, _api_message(error.body) if error.body else str(error.reason)
        where = f"Kubeflow Pipelines at {self.host}"
        if not code:  # raised by the client itself (TLS)
            return _kfp_unreachable(self.host, error)
        if code in (401, 403):
            fix = (
                "give the platform's identity access to KFP (in multi-user mode: a profile for its "
                "namespace and a token)"
            )
        elif code == 404:
            fix = "check that CXOPS_KFP_HOST points at a KFP 2 API server (the v2beta1 API)"
        elif code in (400, 422):
            fix = "recompile the pipeline with `cxops pipeline compile` and check the run's parameters"
        else:
            fix = "retry later"
        return RetrainLaunchError(
            f"{where} refused the retraining run of model '{model}' ({code}: {message}); {fix}",
            status_code=503 if code in (502, 503, 504) else 502,
        )


# -- Argo Workflows ------------------------------------------------------------------------------


def _timeout_session(timeout: float) -> Any:
    """A requests session whose calls time out (Hera's calls set no timeout of their own)."""
    import requests

    class _Session(requests.Session):
        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("timeout", timeout)
            return super().request(method, url, *args, **kwargs)

    return _Session()


class ArgoLauncher:
    """Submits the retrain Workflow (`cxops.monitoring.workflows.retrain_workflow`) to the Argo server
    (`Settings.argo_server`) in `Settings.argo_namespace`. `token`: the bearer token of the Argo server
    (default: Hera's global configuration, if any)."""

    backend = "argo"

    def __init__(
        self,
        settings: Settings,
        token: str | None = None,
        *,
        verify_ssl: bool | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.settings = settings
        # urljoin drops the last path segment of a base without a trailing '/' (an Argo server under /argo)
        self.host = settings.argo_server.rstrip("/") + "/"
        self.namespace = settings.argo_namespace
        self.token = token
        self.verify_ssl = verify_ssl
        self.timeout = timeout

    def launch(
        self, model: str, *, trigger: str, run_name: str, parameters: dict[str, object]
    ) -> LaunchedRun:
        import requests

        from cxops.monitoring._hera import HeraException, WorkflowCreateRequest, WorkflowsService
        from cxops.monitoring.workflows import retrain_workflow

        parameters = _check_request(model, run_name, parameters)
        workflow = retrain_workflow(model, trigger, self.settings, parameters=parameters, run_name=run_name)
        service = WorkflowsService(
            host=self.host,
            namespace=self.namespace,
            token=self.token,
            verify_ssl=self.verify_ssl,
            session=_timeout_session(self.timeout),
        )
        try:
            with service, warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # Hera serialises with pydantic's .json()
                created = service.create_workflow(
                    WorkflowCreateRequest(workflow=workflow.build()), namespace=self.namespace
                )
        except requests.RequestException as error:
            raise RetrainLaunchError(
                f"cannot reach the Argo server at {self.host} ({type(error).__name__}: {error}); check "
                "CXOPS_ARGO_SERVER (the argo-server Service, port 2746), or set CXOPS_RETRAIN_BACKEND=local",
                status_code=503,
            ) from error
        except HeraException as error:
            raise self._error(error, model) from error
        name = str(created.metadata.name)
        return LaunchedRun(
            self.backend,
            name,
            run_name,
            f"{self.host}workflows/{self.namespace}/{name}",
            f"Argo Workflow {name} in namespace '{self.namespace}' at {self.host}",
        )

    def _error(self, error: Any, model: str) -> RetrainLaunchError:
        code = getattr(error, "status_code", None)
        where = f"the Argo server at {self.host}"
        if code in (401, 403):
            fix = (
                f"give the platform's identity the verb create on workflows.argoproj.io in namespace "
                f"'{self.namespace}' and pass its token"
            )
        elif code == 404:
            fix = (
                f"check CXOPS_ARGO_SERVER and that namespace '{self.namespace}' exists (CXOPS_ARGO_NAMESPACE)"
            )
        elif code == 400:
            fix = "check the Argo server's version (the Workflow is written for Argo Workflows v4)"
        else:
            fix = "retry later"
        return RetrainLaunchError(
            f"{where} refused the retrain Workflow of model '{model}' in namespace '{self.namespace}' "
            f"({error}); {fix}",
            status_code=503 if code in (502, 503, 504) else 502,
        )


# -- choice --------------------------------------------------------------------------------------


def launcher(
    settings: Settings, *, local_command: LocalCommand | None = None, argo_token: str | None = None
) -> RetrainLauncher:
    """The launcher of `settings.retrain_backend`; `local_command` builds the local process's command line
    (required for the local backend), `argo_token` is the Argo server's bearer token."""
    if settings.retrain_backend == "kfp":
        return KFPLauncher(settings)
    if settings.retrain_backend == "argo":
        return ArgoLauncher(settings, token=argo_token)
    if local_command is None:
        raise CXOpsError(
            "retrain_backend 'local' starts a process on this machine and needs its command line: pass "
            "local_command, or set CXOPS_RETRAIN_BACKEND to kfp or argo"
        )
    return LocalLauncher(settings, local_command)
