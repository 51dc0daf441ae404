"""KFP v2 lightweight components: thin wrappers over `cxops.lifecycle.steps`.

No `from __future__ import annotations` here: KFP reads the real annotation objects.

KFP ships each function's source into its container, so imports live inside the bodies. The components
run in the platform image (which has `cxops` and `kfp` installed: `install_kfp_package=False`), and
locally in `kfp.local` subprocesses of the same environment.
"""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output

from cxops.config import Settings

# The platform image (built from the repository) that every step runs in on a cluster:
# `<CXOPS_IMAGE_REGISTRY>/cxops-platform:<version>`, the image the Argo workflows and the Helm chart use.
PLATFORM_IMAGE = Settings().platform_image


def _component(func):
    return dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)(func)


@_component
def ingest_op(model: str, data_path: str, rows: int, seed: int, dataset: Output[Dataset]) -> str:
    """Load or generate the raw data and snapshot it; returns the dataset version (content hash)."""
    import shutil

    from cxops.config import Settings
    from cxops.lifecycle import steps

    result = steps.ingest(model, Settings(), data_path=data_path, rows=rows, seed=seed)
    shutil.copyfile(result["path"], dataset.path)
    dataset.metadata.update({k: result[k] for k in ("dataset_version", "rows", "source")})
    print(f"[ingest] {result['rows']} rows from {result['source']} -> dataset {result['dataset_version']}")
    return result["dataset_version"]


@_component
def validate_op(model: str, dataset_version: str, dataset: Input[Dataset], report: Output[Artifact]) -> int:
    """Great Expectations suite of the model; fails the run (report kept) when the data does not pass."""
    import os

    from cxops.config import Settings
    from cxops.lifecycle import steps

    os.makedirs(report.path, exist_ok=True)
    result = steps.validate(model, dataset.path, dataset_version, report.path, Settings())
    report.metadata.update(result)
    print(f"[validate] suite {result['suite']} passed (validation #{result['validation_id']})")
    return int(result["validation_id"])


@_component
def features_op(model: str, dataset: Input[Dataset], entities: Output[Dataset]) -> None:
    """Tabular: pseudonymise, derive features, Feast apply + materialize. Text: mask personal data in the
    messages, pseudonymise senders, drop duplicates. Emits the training entity frame."""
    from cxops.config import Settings
    from cxops.lifecycle import steps

    result = steps.build_features(model, dataset.path, entities.path, Settings())
    entities.metadata.update(result)
    print(f"[features] {result['entities']} entities; feature service {result['feature_service']}")
    if result.get("duplicates_dropped") or result.get("pii_masked"):
        print(f"[features] {result['duplicates_dropped']} duplicates dropped; masked: {result['pii_masked']}")


@_component
def train_op(
    model: str,
    entities: Input[Dataset],
    trained: Output[Model],
    test_set: Output[Dataset],
    train_set: Output[Dataset],
) -> None:
    """Training set (Feast point in time, or masked messages) and training on Ray (GPU workers if any):
    this step's Ray, or a KubeRay RayJob of its own when CXOPS_TRAINING_BACKEND=rayjob."""
    from cxops.config import Settings
    from cxops.lifecycle import steps

    settings = Settings()
    if settings.training_backend == "rayjob":
        from cxops.training.rayjob import train_on_rayjob

        summary = train_on_rayjob(
            model,
            settings,
            entities_path=entities.path,
            model_dir=trained.path,
            test_path=test_set.path,
            train_path=train_set.path,
        )
    else:
        summary = steps.train(
            model, entities.path, trained.path, test_set.path, settings, train_path=train_set.path
        )
    trained.metadata.update({k: v for k, v in summary.items() if isinstance(v, (int, float, str, bool))})


@_component
def evaluate_op(
    model: str,
    trained: Input[Model],
    test_set: Input[Dataset],
    train_set: Input[Dataset],
    evaluation: Output[Artifact],
    metrics: Output[Metrics],
    model_card: Output[HTML],
) -> None:
    """Metrics, bias by segment, baselines and the model card on the held-out split."""
    import shutil

    from cxops.config import Settings
    from cxops.lifecycle import steps

    result = steps.evaluate(
        model, trained.path, test_set.path, evaluation.path, Settings(), train_path=train_set.path
    )
    for name, value in result["metrics"].items():
        metrics.log_metric(name, value)
    shutil.copyfile(result["files"]["html"], model_card.path)
    evaluation.metadata["passed_thresholds"] = result["passed"]


@_component
def register_op(
    model: str,
    dataset_version: str,
    validation_id: int,
    trained: Input[Model],
    evaluation: Input[Artifact],
    trigger: str = "",
) -> int:
    """Register a `candidate` version with its lineage and why it was trained; returns its version number."""
    from cxops.config import Settings
    from cxops.lifecycle import steps

    result = steps.register(
        model,
        Settings(),
        dataset_version=dataset_version,
        validation_id=validation_id,
        model_dir=trained.path,
        evaluation_dir=evaluation.path,
        trigger=trigger,
    )
    print(f"[register] {model} version {result['version']} ({result['stage']})")
    return int(result["version"])


@_component
def package_op(model: str, version: int) -> str:
    """Build the version's BentoML bento (it carries the Dockerfile of the KServe predictor image)."""
    from cxops.config import Settings
    from cxops.lifecycle import steps

    result = steps.package(model, version, Settings())
    print(f"[package] bento {result['bento']}")
    return result["bento"]
