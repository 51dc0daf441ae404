"""Render every manifest of a CXOps installation for the current registry state, for GitOps tools.

`render_kubernetes` writes, into one folder:

    values.yaml             the chart values used (the operator's files + what is served, from the registry)
    state.json              which version is stable and which is a canary, at what percentage, per model
    chart/<kind>-<name>.yaml  the Helm chart's objects, rendered by Helm's own engine (helm-python-sdk)
    argo/<name>.yaml        the monitoring and retention CronWorkflows (Argo; apply them)
    submit/retrain-workflow.yaml  the retrain Workflow, a template to `argo submit` (it has a generateName)
    pipelines/*.yaml        the KFP training pipelines (every model; one per model with its resources)

Everything is validated before anything is written (Kubernetes OpenAPI for built-in kinds, the CRD schemas
for the custom ones), and the folder is replaced whole: a failed render leaves the previous one as it was.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from cxops import __version__
from cxops.config import Settings
from cxops.deploy.errors import DeployError
from cxops.deploy.validate import check_manifests
from cxops.deploy.values import DeploymentState, deployment_state, serving_models

__all__ = [
    "CHART_DIR",
    "RENDER_MARKER",
    "RenderResult",
    "load_values",
    "render_chart",
    "render_kubernetes",
    "write_objects",
]

CHART_DIR = Path("helm") / "cxops"
RENDER_MARKER = "state.json"
"""The file that marks a folder as written by `render_kubernetes` (and so safe to replace)."""
_OWNED = ("values.yaml", RENDER_MARKER, "chart", "argo", "submit", "pipelines")


@dataclass(frozen=True)
class RenderResult:
    out: Path
    objects: int
    files: int
    state: DeploymentState


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` over `base`, maps merged key by key, anything else replaced (as Helm merges values)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_values(files: Iterable[Path]) -> dict[str, Any]:
    """Values files merged in order, later ones winning (like `helm -f a.yaml -f b.yaml`)."""
    values: dict[str, Any] = {}
    for path in files:
        try:
            loaded = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise DeployError(f"cannot read values file {path}: {error}") from error
        if not isinstance(loaded, dict):
            raise DeployError(f"values file {path} holds a {type(loaded).__name__}, not a map of values")
        values = merge(values, loaded)
    return values


def render_chart(
    values: dict[str, Any], *, chart_dir: Path, release: str = "cxops", namespace: str = "cxops"
) -> list[dict[str, Any]]:
    """The chart's objects, rendered by Helm's engine with `values` (checked against values.schema.json)."""
    import helm_python

    try:
        chart = helm_python.Chart.load(str(chart_dir))
        rendered = chart.render(values, name=release, namespace=namespace, is_install=True)
    except Exception as error:  # the Go SDK raises its own error types; the message says what was wrong
        raise DeployError(f"Helm could not render the chart {chart_dir}: {error}") from error
    objects = []
    for template in sorted(rendered):
        if not template.endswith((".yaml", ".yml")):
            continue  # NOTES.txt
        objects.extend(doc for doc in yaml.safe_load_all(rendered[template]) if doc)
    return objects


def _file_name(obj: dict[str, Any]) -> str:
    return f"{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"


def _dump(obj: Any) -> str:
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False)


def write_objects(folder: Path, objects: Sequence[dict[str, Any]]) -> int:
    """One `<kind>-<name>.yaml` per object in `folder`; the number written."""
    folder.mkdir(parents=True, exist_ok=True)
    for obj in objects:
        path = folder / _file_name(obj)
        if path.exists():
            raise DeployError(f"two rendered objects would share the file {path.name}; rename one")
        path.write_text(_dump(obj))
    return len(objects)


def _check_replaceable(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise DeployError(f"--out {out} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / RENDER_MARKER).is_file():
        raise DeployError(
            f"--out {out} is not empty and was not written by `cxops deploy render` (no {RENDER_MARKER}); "
            "give an empty or new folder"
        )


def _replace(out: Path, staged: Path) -> None:
    """Swap the rendered files into `out`, keeping anything else there (a README, a kustomization)."""
    out.mkdir(parents=True, exist_ok=True)
    for name in _OWNED:
        old = out / name
        if old.is_dir():
            shutil.rmtree(old)
        elif old.exists():
            old.unlink()
    for item in staged.iterdir():
        shutil.move(str(item), out / item.name)


def render_kubernetes(
    settings: Settings,
    out: Path,
    *,
    release: str = "cxops",
    namespace: str = "cxops",
    values_files: Sequence[Path] = (),
    deployment_mode: Literal["Serverless", "Standard"] | None = None,
    state: DeploymentState | None = None,
) -> RenderResult:
    """Render, validate and write every manifest for the registry's current state (see the module doc)."""
    from cxops.lifecycle.pipeline import compile_model_pipelines, compile_pipeline
    from cxops.monitoring.workflows import monitoring_cron, retention_cron, retrain_workflow

    out = Path(out)
    _check_replaceable(out)
    state = state if state is not None else deployment_state(settings)
    values = merge(
        load_values(values_files),
        {
            "image": {"registry": settings.image_registry},
            "serving": {"models": serving_models(settings, state)},
        },
    )
    if deployment_mode:
        values["serving"]["deploymentMode"] = deployment_mode
    chart = render_chart(values, chart_dir=settings.root / CHART_DIR, release=release, namespace=namespace)
    # Workflows run in the release's namespace: its `cxops-pipeline` service account and settings are there.
    in_namespace = settings.model_copy(update={"argo_namespace": namespace})
    crons = [monitoring_cron(in_namespace).to_dict(), retention_cron(in_namespace).to_dict()]
    retrain = retrain_workflow("churn", "manual", in_namespace).to_dict()
    objects = check_manifests([*chart, *crons, retrain])

    with tempfile.TemporaryDirectory(
        prefix=".render-", dir=out.parent if out.parent.exists() else None
    ) as tmp:
        staged = Path(tmp)
        (staged / "values.yaml").write_text(_dump(values))
        written = write_objects(staged / "chart", chart) + write_objects(staged / "argo", crons)
        (staged / "submit").mkdir()
        (staged / "submit" / "retrain-workflow.yaml").write_text(_dump(retrain))
        pipelines = staged / "pipelines"
        compile_pipeline(settings, pipelines / "training_pipeline.yaml")
        written += 2 + len(compile_model_pipelines(settings, pipelines / "models"))
        summary = {
            "rendered_by": f"cxops {__version__}",
            "release": release,
            "namespace": namespace,
            "models": [asdict(m) for m in state.models],
            "not_served": state.skipped,
        }
        (staged / RENDER_MARKER).write_text(json.dumps(summary, indent=2) + "\n")
        _replace(out, staged)
    return RenderResult(out=out, objects=objects, files=written + 2, state=state)
