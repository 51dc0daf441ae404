"""Settings from `CXOPS_*` environment variables, and the layout of the local home directory."""

from __future__ import annotations

import getpass
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings", "project_root"]


def project_root() -> Path:
    """The checkout holding `models/`, `feature_repo/` and `policies/` (the package is `platform/cxops`)."""
    here = Path(__file__).resolve().parents[2]
    if (here / "models").is_dir():
        return here
    return Path.cwd()


class Settings(BaseSettings):
    """Everything configurable. Defaults run the whole platform on one machine with no set-up."""

    model_config = SettingsConfigDict(env_prefix="CXOPS_", extra="forbid")

    home: Path = Path(".cxops")
    """Local state: metadata DB, Feast stores, dataset snapshots, artifacts, bentos."""
    root: Path = project_root()
    """Where the model specs (`models/`), the Feast repository and the policies live."""
    database_url: str | None = None
    """SQLAlchemy URL of the metadata store; default a SQLite file in the home directory."""
    online_store: Literal["sqlite", "redis"] = "sqlite"
    """Feast online store: embedded SQLite, or Redis in production."""
    redis_url: str = "redis://127.0.0.1:6379/0"
    feast_project: str = "cxops"
    """Feast project name (namespaces keys in a shared online store)."""
    pseudonym_key: SecretStr | None = None
    """HMAC key for customer pseudonyms. Unset: a key is generated once in the home directory."""
    actor: str = getpass.getuser()
    """Who the local CLI acts as on the embedded store (recorded in lineage and the audit trail); their roles
    come from policies/roles.yaml."""
    api_url: str | None = None
    """Platform API (`cxops api serve`). Set, governance commands go through it as the holder of `api_token`
    (production mode) instead of opening the metadata store directly (embedded mode)."""
    api_token: SecretStr | None = None
    """Bearer token for `api_url` (`cxops auth issue`)."""
    ray_address: str | None = None
    """Ray cluster address; unset starts a local Ray on this machine."""
    ray_num_cpus: int | None = None
    training_backend: Literal["ray", "rayjob"] = "ray"
    """Where training runs: `ray` uses the Ray of `ray_address` (a long-running cluster) or one started on
    this machine; `rayjob` submits each training run as a KubeRay RayJob in `rayjob_namespace`, whose
    worker group asks for the spec's GPUs (the same training code runs on its head node)."""
    rayjob_namespace: str = "cxops"
    ray_storage: str | None = None
    """Where Ray Train keeps checkpoints: a URI (`s3://`, `gs://`) or a path every Ray node shares. Unset: a
    folder under the home, which only a Ray on this machine can reach; a RayJob run uses its staging
    prefix (`<staging_uri>/rayjobs/<job>/ray`)."""
    staging_uri: str | None = None
    """Object-storage prefix (`s3://bucket/prefix`, `gs://...`) where a RayJob's inputs and outputs are staged
    between the pipeline step that submits it and the Ray cluster that runs it; required for `rayjob`."""
    s3_endpoint: str | None = None
    """S3-compatible endpoint (MinIO, for Kubeflow Pipelines' default artifact store) where a RayJob
    reads its inputs and writes the trained model; unset: AWS S3, or the URI's own scheme (gs://)."""
    canary_backend: Literal["local", "kubernetes"] = "local"
    """Where canary traffic is split: the local gateway (`cxops canary gateway`) reads the canary records;
    `kubernetes` also patches each model's KServe InferenceService in `kserve_namespace`."""
    kserve_namespace: str = "cxops"
    image_registry: str = "registry.local/cxops"
    """Where the predictor images built from the bentos are pushed: `<registry>/<bento name>:<version>`."""
    otel_exporter: Literal["none", "console", "file", "otlp"] = "none"
    """Where traces and metrics go: nowhere, the console, a JSON-lines file (`otel_file`), or an OTLP/HTTP
    collector (`otel_endpoint`)."""
    otel_endpoint: str = "http://127.0.0.1:4318"
    """OTLP/HTTP collector base URL (traces go to `/v1/traces`, metrics to `/v1/metrics`)."""
    otel_file: Path | None = None
    """JSON-lines file for the `file` exporter; default `<home>/telemetry/<service>.jsonl`."""
    monitor_url: str = "http://127.0.0.1:8091"
    """The drift monitor service (`cxops monitor serve`), fed with the request log's CloudEvents."""
    retrain_backend: Literal["local", "kfp", "argo"] = "local"
    """How an alert's retraining runs: a `kfp.local` run on this machine, a Kubeflow Pipelines run, or an
    Argo Workflow (written with Hera)."""
    kfp_host: str = "http://ml-pipeline.kubeflow:8888"
    """Kubeflow Pipelines API, for `retrain_backend=kfp`."""
    argo_server: str = "https://argo-server.argo:2746"
    """Argo Workflows server, for `retrain_backend=argo`."""
    argo_namespace: str = "cxops"

    @property
    def platform_image(self) -> str:
        """The image every pipeline step, workflow and platform pod runs: built from this repository."""
        from cxops import __version__

        return f"{self.image_registry.rstrip('/')}/cxops-platform:{__version__}"

    @cached_property
    def home_dir(self) -> Path:
        path = self.home.expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def metadata_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home_dir / 'cxops.db'}"

    def subdir(self, name: str) -> Path:
        path = self.home_dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def datasets_dir(self) -> Path:
        return self.subdir("datasets")

    @property
    def artifacts_dir(self) -> Path:
        return self.subdir("artifacts")

    @property
    def feast_dir(self) -> Path:
        return self.subdir("feast")

    @property
    def bentoml_home(self) -> Path:
        return self.subdir("bentoml")

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def feature_repo_dir(self) -> Path:
        return self.root / "feature_repo"

    def to_env(self) -> dict[str, str]:
        """These settings as `CXOPS_*` variables, for child processes (pipeline steps, model servers)."""
        env = {
            "CXOPS_HOME": str(self.home_dir),
            "CXOPS_ROOT": str(self.root.resolve()),
            "CXOPS_DATABASE_URL": self.metadata_url,
            "CXOPS_ONLINE_STORE": self.online_store,
            "CXOPS_REDIS_URL": self.redis_url,
            "CXOPS_FEAST_PROJECT": self.feast_project,
            "CXOPS_ACTOR": self.actor,
        }
        if self.pseudonym_key is not None:
            env["CXOPS_PSEUDONYM_KEY"] = self.pseudonym_key.get_secret_value()
        if self.ray_address:
            env["CXOPS_RAY_ADDRESS"] = self.ray_address
        if self.ray_num_cpus:
            env["CXOPS_RAY_NUM_CPUS"] = str(self.ray_num_cpus)
        env["CXOPS_OTEL_EXPORTER"] = self.otel_exporter
        env["CXOPS_OTEL_ENDPOINT"] = self.otel_endpoint
        if self.otel_file is not None:
            env["CXOPS_OTEL_FILE"] = str(self.otel_file)
        return env

    def pseudonym_key_bytes(self) -> bytes:
        """The configured key, or the one generated in the home directory (created on first use, mode 600)."""
        if self.pseudonym_key is not None:
            return self.pseudonym_key.get_secret_value().encode()
        key_file = self.home_dir / "pseudonym.key"
        if not key_file.exists():
            key_file.touch(mode=0o600)
            key_file.write_text(secrets.token_hex(32))
        return key_file.read_text().strip().encode()


def get_settings() -> Settings:
    return Settings()
