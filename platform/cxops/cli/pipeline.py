"""`cxops pipeline ...`: run the training pipeline locally, or compile it for Kubeflow Pipelines."""

from __future__ import annotations

from pathlib import Path

import typer

from cxops.cli._output import console, step
from cxops.config import get_settings

app = typer.Typer(
    help="Run the training pipeline locally (kfp.local) or compile it to KFP IR YAML.", no_args_is_help=True
)


@app.command("run")
def run(
    model: str = typer.Argument(..., help="Model name: a folder under models/ (e.g. churn)."),
    data: str = typer.Option(
        "",
        "--data",
        help="Raw training file (CSV or parquet) in the model's raw schema. "
        "Default: the model's built-in seeded generator.",
    ),
    rows: int = typer.Option(5000, help="Rows to generate when --data is not given."),
    seed: int = typer.Option(7, help="Generator seed."),
    trigger: str = typer.Option(
        "", help="Why this run happens, recorded in the version's lineage (e.g. alert:12). Default: manual."
    ),
) -> None:
    """Validate → pseudonymise → Feast → train on Ray → evaluate → register → package, as KFP steps.

    Example: [bold]cxops pipeline run churn --data ../shared/datasets/telco_churn/telco_churn_train.csv[/]
    """
    from cxops.lifecycle.pipeline import run_pipeline

    settings = get_settings()
    step(f"running the training pipeline for '{model}' with kfp.local (home: {settings.home_dir})")
    result = run_pipeline(model, settings, data_path=data, rows=rows, seed=seed, trigger=trigger)
    record = result["record"]
    console.print(
        f"[green]registered[/] {model} version {record.version} ({record.stage}); bento {result['bento']}"
    )
    for name, value in sorted(record.metrics.items()):
        console.print(f"  {name:<22} {value:.4f}" if isinstance(value, float) else f"  {name:<22} {value}")


@app.command("compile")
def compile_(
    out: Path = typer.Option(None, help="Output file. Default: pipelines/compiled/training_pipeline.yaml."),
    models_dir: Path = typer.Option(
        None,
        "--models-dir",
        help="Where each model's own pipeline goes. Default: pipelines/compiled/models/.",
    ),
) -> None:
    """Compile the training pipelines to KFP IR YAML, for Kubeflow Pipelines on a cluster.

    Writes the pipeline of every model (the model is a run parameter) and one pipeline per model whose train
    step asks for the spec's CPUs, memory and GPUs (CXOPS_TRAINING_BACKEND=ray with no CXOPS_RAY_ADDRESS:
    it trains in its own pod; with `rayjob` the RayJob's worker pods ask for them instead).
    """
    from cxops.lifecycle.pipeline import compile_model_pipelines, compile_pipeline

    settings = get_settings()
    console.print(f"compiled {compile_pipeline(settings, out)}")
    for path in compile_model_pipelines(settings, models_dir):
        console.print(f"compiled {path}")
