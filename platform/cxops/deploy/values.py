"""The Helm chart's `serving.models`: one InferenceService per model, from its spec and the registry.

What is served comes from the registry (the production version; a running split canary's candidate and
its percentage); how it is served comes from the spec (`serving:` resources, GPUs, replicas). A model with
no production version is not served yet and is left out, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cxops.config import Settings
from cxops.deploy.errors import DeployError
from cxops.specs import ModelSpec, list_specs, load_spec

__all__ = ["DeploymentState", "ServedModel", "deployment_state", "model_values", "serving_models"]


@dataclass(frozen=True)
class ServedModel:
    """Which versions of one model run, and in which images."""

    name: str
    stable_version: int
    stable_image: str
    canary_version: int | None = None
    canary_image: str | None = None
    canary_percent: int | None = None


@dataclass(frozen=True)
class DeploymentState:
    """Every served model, and why the others are not served."""

    models: list[ServedModel] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def model_values(spec: ModelSpec, served: ServedModel) -> dict[str, Any]:
    """One item of the chart's `serving.models` (see helm/cxops/values.schema.json)."""
    from cxops.canary.kubernetes import canary_name

    serving = spec.serving
    resources = serving.resources
    item: dict[str, Any] = {
        "name": spec.name,
        "team": spec.team,
        "stable": {"version": served.stable_version, "image": served.stable_image},
        "resources": {
            "requests": {"cpu": resources.cpu, "memory": resources.memory},
            "limits": {"cpu": resources.cpu_limit, "memory": resources.memory_limit},
        },
        "gpus": serving.gpus,
        "minReplicas": serving.min_replicas,
        "maxReplicas": serving.max_replicas,
        "scaleTarget": serving.scale_target,
        "timeoutSeconds": serving.timeout_seconds,
    }
    if served.canary_image is not None:
        item["canary"] = {
            "version": served.canary_version,
            "image": served.canary_image,
            "percent": served.canary_percent,
            "name": canary_name(spec.name, served.canary_image),
        }
    return item


def deployment_state(settings: Settings) -> DeploymentState:
    """What the registry says is served: each model's production version and its running canary."""
    from cxops.canary.errors import CanaryError
    from cxops.canary.service import CanaryService
    from cxops.canary.traffic import KServeTraffic
    from cxops.governance.service import Governance

    images = KServeTraffic(settings)
    state = DeploymentState()
    with Governance.from_settings(settings) as gov:
        canaries = CanaryService(gov)
        for name in list_specs(settings):
            production = gov.production_version(name)
            if production is None:
                state.skipped[name] = "no production version yet (promote one to serve it)"
                continue
            try:
                served = ServedModel(name, production.version, images.image(production))
                canary = canaries.active(name)
                if canary is not None and canary.mode == "shadow":
                    state.skipped[f"{name} canary"] = (
                        f"canary {canary.deployment_id} mirrors requests (shadow), which KServe cannot do; "
                        "it runs on the local gateway only"
                    )
                elif canary is not None:
                    candidate = gov.registry.get_version(name, canary.candidate_version)
                    served = ServedModel(
                        name,
                        production.version,
                        images.image(production),
                        candidate.version,
                        images.image(candidate),
                        round(canary.percent),
                    )
            except CanaryError as error:
                raise DeployError(f"cannot render model '{name}': {error.message}") from error
            state.models.append(served)
    return state


def serving_models(settings: Settings, state: DeploymentState) -> list[dict[str, Any]]:
    """The chart's `serving.models` for `state`, in model-name order."""
    return [model_values(load_spec(m.name, settings), m) for m in sorted(state.models, key=lambda m: m.name)]
