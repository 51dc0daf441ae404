"""One Ray runtime per process: started (or connected to) once, quiet, and asked only for what it has.

Ray 2.60 takes 7–13 s and ~1 GB to start, so every training step in a process shares one runtime.
Scaling requests are checked against the cluster's resources: Ray waits forever for GPUs that do not
exist, so `use_gpu` is honoured only when the cluster reports GPUs.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cxops.config import Settings
from cxops.errors import CXOpsError
from cxops.specs import ScalingSpec

if TYPE_CHECKING:
    from ray.train import ScalingConfig

__all__ = ["RayRuntime", "cluster_gpus", "ensure_ray", "resolve_scaling", "shutdown_ray"]

log = logging.getLogger(__name__)

# Each `ray.train.report()` otherwise waits for the controller's 2 s poll; we report once at the end,
# but the run's start and finish also wait on that poll.
_QUIET_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.1",
    "RAY_DATA_DISABLE_PROGRESS_BARS": "1",
}

_lock = threading.Lock()
_runtime: RayRuntime | None = None


@dataclass(frozen=True)
class RayRuntime:
    """The Ray runtime this process uses: where it runs and what it offers."""

    address: str | None
    """The cluster address that was given, or None for a Ray started on this machine."""
    started_here: bool
    start_seconds: float
    resources: dict[str, float]

    @property
    def num_cpus(self) -> float:
        return float(self.resources.get("CPU", 0.0))

    @property
    def num_gpus(self) -> float:
        return float(self.resources.get("GPU", 0.0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address or "local",
            "started_here": self.started_here,
            "start_seconds": round(self.start_seconds, 3),
            "resources": dict(self.resources),
        }


def _quiet_environment() -> None:
    for key, value in _QUIET_ENV.items():
        os.environ.setdefault(key, value)  # an operator's explicit setting wins


def ensure_ray(settings: Settings) -> RayRuntime:
    """Start Ray (or connect to `settings.ray_address`) unless this process already did; idempotent."""
    global _runtime
    import time

    with _lock:
        import ray

        if _runtime is not None and ray.is_initialized():
            return _runtime
        _quiet_environment()
        started = time.perf_counter()
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "logging_level": logging.ERROR,
                "configure_logging": True,
            }
            if settings.ray_address:
                kwargs["address"] = settings.ray_address
            else:
                kwargs["num_cpus"] = settings.ray_num_cpus or os.cpu_count() or 1
            try:
                ray.init(**kwargs)
            except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError…
                where = settings.ray_address or "this machine"
                raise CXOpsError(
                    f"could not start Ray on {where}: {exc}; check CXOPS_RAY_ADDRESS / "
                    f"CXOPS_RAY_NUM_CPUS, or stop a stale Ray with `ray stop`"
                ) from exc
        _silence_ray_data()
        resources = {
            k: float(v)
            for k, v in ray.cluster_resources().items()
            if k in ("CPU", "GPU", "memory", "object_store_memory")
        }
        _runtime = RayRuntime(
            address=settings.ray_address,
            started_here=not settings.ray_address,
            start_seconds=time.perf_counter() - started,
            resources=resources,
        )
        return _runtime


def _silence_ray_data() -> None:
    from ray.data import DataContext

    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False


def shutdown_ray() -> None:
    """Stop the runtime this process started (tests and scripts call it at exit)."""
    global _runtime
    with _lock:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        _runtime = None


def cluster_gpus() -> float:
    """GPUs the connected Ray cluster reports (0 when Ray is not running)."""
    return _cluster_resource("GPU")


def _cluster_resource(name: str) -> float:
    import ray

    if not ray.is_initialized():
        return 0.0
    return float(ray.cluster_resources().get(name, 0.0))


def resolve_scaling(
    scaling: ScalingSpec, *, gpus_available: float | None = None, cpus_available: float | None = None
) -> ScalingConfig:
    """The Ray Train scaling for a spec's request, asking only for resources the cluster has.

    `gpus_available` / `cpus_available` default to what the running cluster reports. GPU workers fall
    back to CPU workers when there are no GPUs, and a request for more workers than the GPUs or CPUs
    can hold is trimmed: Ray would otherwise wait for them forever.
    """
    from ray.train import ScalingConfig

    gpus = _cluster_resource("GPU") if gpus_available is None else float(gpus_available)
    cpus = _cluster_resource("CPU") if cpus_available is None else float(cpus_available)
    num_workers = scaling.num_workers
    use_gpu = bool(scaling.use_gpu and num_workers > 0)
    if use_gpu and gpus < 1:
        log.warning(
            "GPU training was requested but the Ray cluster has no GPUs; training on CPU with %d worker(s)",
            num_workers,
        )
        use_gpu = False
    elif use_gpu and num_workers > gpus:
        log.warning(
            "%d GPU workers were requested but the Ray cluster has %g GPU(s); using %d worker(s)",
            num_workers,
            gpus,
            int(gpus),
        )
        num_workers = int(gpus)
    cpus_per_worker = float(scaling.cpus_per_worker)
    if cpus > 0 and num_workers * cpus_per_worker > cpus:
        fit = max(1, int(cpus // cpus_per_worker))
        if cpus_per_worker > cpus:
            log.warning(
                "a worker asks for %g CPUs but the Ray cluster has %g; asking for %g",
                cpus_per_worker,
                cpus,
                cpus,
            )
            cpus_per_worker = cpus
        if fit < num_workers:
            log.warning(
                "%d workers x %g CPUs were requested but the Ray cluster has %g CPUs; using %d worker(s)",
                num_workers,
                cpus_per_worker,
                cpus,
                fit,
            )
            num_workers = fit
    resources: dict[str, float] = {"CPU": cpus_per_worker}
    if use_gpu:
        resources["GPU"] = 1.0
    return ScalingConfig(
        num_workers=num_workers, use_gpu=use_gpu, resources_per_worker=resources if num_workers > 0 else None
    )
