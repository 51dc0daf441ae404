"""`cxops deploy ...`: the manifests of a Kubernetes installation, rendered for the registry's state."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from cxops.cli._output import console, step
from cxops.config import get_settings

app = typer.Typer(
    help="Render every Kubernetes manifest of CXOps (Helm chart, InferenceServices, Argo schedules, KFP "
    "pipelines) for what the registry says is served, validated against the Kubernetes and CRD schemas.",
    no_args_is_help=True,
)


class Target(StrEnum):
    kubernetes = "kubernetes"


class Mode(StrEnum):
    Serverless = "Serverless"
    Standard = "Standard"


@app.command("render")
def render(
    out: Path = typer.Option(
        ..., "--out", help="Folder to write (created; a previous render there is replaced)."
    ),
    target: Target = typer.Option(Target.kubernetes, "--target", help="Where it runs. Only kubernetes."),
    values: list[Path] = typer.Option(
        [],
        "--values",
        "-f",
        help="Chart values files (this cluster's settings), merged in order, like helm -f.",
    ),
    namespace: str = typer.Option("cxops", help="Namespace of the release, the models and the workflows."),
    release: str = typer.Option("cxops", help="Helm release name (objects are named <release>-...)."),
    mode: Mode = typer.Option(
        None,
        "--mode",
        help="KServe deployment mode (default: the values' serving.deploymentMode, Serverless).",
    ),
) -> None:
    """Write every manifest for the current registry state: the production version of each model, a running
    canary's candidate and its percentage, each model's resources and GPUs from its spec.

    Nothing is written unless every object passes its schema. Commit the folder to the repository your
    GitOps tool (Argo CD, Flux) applies, or `kubectl apply -f DIR/chart -f DIR/argo`.

    Example: [bold]cxops deploy render --target kubernetes --out deploy/prod -f deploy/prod-values.yaml[/]
    """
    from cxops.deploy.render import render_kubernetes

    settings = get_settings()
    step(f"rendering the {target.value} manifests for the registry at {settings.metadata_url}")
    result = render_kubernetes(
        settings,
        out,
        release=release,
        namespace=namespace,
        values_files=values,
        deployment_mode=mode.value if mode else None,
    )
    for model in result.state.models:
        canary = (
            f"; canary v{model.canary_version} at {model.canary_percent}%" if model.canary_version else ""
        )
        console.print(f"  [bold]{model.name}[/] stable v{model.stable_version}{canary}")
    for name, reason in result.state.skipped.items():
        console.print(f"  [yellow]{name}[/]: not rendered: {reason}")
    console.print(
        f"[green]wrote[/] {result.files} files to {result.out} ({result.objects} objects, all valid against "
        "the Kubernetes and CRD schemas)"
    )
