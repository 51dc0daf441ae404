"""The training pipeline, one for every model: `model` names the spec in `models/<model>/spec.yaml`.

On a cluster every step reads the platform's settings from the ConfigMap and the Secret the Helm chart
and Terraform create (`cxops-platform`), as the Argo workflows do; `kfp.local` ignores that Kubernetes
configuration and hands the steps this process's settings instead. `model_pipeline(spec, settings)` is the
same graph for one model, with its train step sized from the spec (CPU, memory, GPU) for a cluster.
"""

from kfp import dsl, kubernetes

from cxops.config import Settings
from cxops.monitoring.workflows import SETTINGS_SOURCE
from cxops.specs import ModelSpec
from pipelines.components import (
    evaluate_op,
    features_op,
    ingest_op,
    package_op,
    register_op,
    train_op,
    validate_op,
)

PIPELINE_NAME = "cxops-training"
SECRET_KEYS = ("CXOPS_DATABASE_URL", "CXOPS_REDIS_URL", "CXOPS_PSEUDONYM_KEY")
"""The Secret's keys (required: without them a step would write to a throw-away embedded store)."""
OBJECT_STORE_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
"""Object-storage credentials in the Secret, optional: a cluster with workload identity has none."""
CONFIG_KEYS = (
    "CXOPS_HOME",
    "CXOPS_ONLINE_STORE",
    "CXOPS_FEAST_PROJECT",
    "CXOPS_IMAGE_REGISTRY",
    "CXOPS_MONITOR_URL",
    "CXOPS_TRAINING_BACKEND",
    "CXOPS_RAYJOB_NAMESPACE",
    "CXOPS_RAY_ADDRESS",
    "CXOPS_STAGING_URI",
    "CXOPS_S3_ENDPOINT",
    "CXOPS_RAY_STORAGE",
    "CXOPS_OTEL_EXPORTER",
    "CXOPS_OTEL_ENDPOINT",
    "AWS_ENDPOINT_URL",
)
"""The ConfigMap's keys a step reads (optional: an unset key keeps the built-in default)."""
GPU_RESOURCE = "nvidia.com/gpu"


def _with_platform_settings(task: dsl.PipelineTask) -> dsl.PipelineTask:
    kubernetes.use_secret_as_env(task, SETTINGS_SOURCE, {key: key for key in SECRET_KEYS})
    kubernetes.use_secret_as_env(
        task, SETTINGS_SOURCE, {key: key for key in OBJECT_STORE_KEYS}, optional=True
    )
    kubernetes.use_config_map_as_env(task, SETTINGS_SOURCE, {key: key for key in CONFIG_KEYS}, optional=True)
    return task


def _graph(model, data_path, rows, seed, trigger) -> dict[str, dsl.PipelineTask]:
    ingest = ingest_op(model=model, data_path=data_path, rows=rows, seed=seed)
    validate = validate_op(
        model=model, dataset_version=ingest.outputs["Output"], dataset=ingest.outputs["dataset"]
    )
    features = features_op(model=model, dataset=ingest.outputs["dataset"])
    features.after(validate)  # nothing unvalidated reaches the feature store
    train = train_op(model=model, entities=features.outputs["entities"])
    evaluate = evaluate_op(
        model=model,
        trained=train.outputs["trained"],
        test_set=train.outputs["test_set"],
        train_set=train.outputs["train_set"],
    )
    register = register_op(
        model=model,
        dataset_version=ingest.outputs["Output"],
        validation_id=validate.outputs["Output"],
        trained=train.outputs["trained"],
        evaluation=evaluate.outputs["evaluation"],
        trigger=trigger,
    )
    package = package_op(model=model, version=register.output)
    tasks = {
        "ingest": ingest,
        "validate": validate,
        "features": features,
        "train": train,
        "evaluate": evaluate,
        "register": register,
        "package": package,
    }
    for task in tasks.values():
        _with_platform_settings(task)
    return tasks


@dsl.pipeline(
    name=PIPELINE_NAME, description="Validate, featurise, train, evaluate, register and package a model."
)
def training_pipeline(
    model: str = "churn", data_path: str = "", rows: int = 5000, seed: int = 7, trigger: str = ""
) -> str:
    return _graph(model, data_path, rows, seed, trigger)["package"].output


def trains_in_step(settings: Settings) -> bool:
    """Whether the train step itself trains (a Ray inside its pod), so its pod needs the spec's resources;
    with a RayJob or a long-running Ray cluster the step only submits or drives the work."""
    return settings.training_backend == "ray" and not settings.ray_address


def model_pipeline(spec: ModelSpec, settings: Settings):
    """The training pipeline of one model for a cluster, its train step sized from `spec.trainer.scaling`."""
    scaling = spec.trainer.scaling
    in_step = trains_in_step(settings)

    @dsl.pipeline(
        name=f"{PIPELINE_NAME}-{spec.name}",
        description=f"Validate, featurise, train, evaluate, register and package the {spec.name} model.",
    )
    def pipeline(data_path: str = "", rows: int = 5000, seed: int = 7, trigger: str = "") -> str:
        tasks = _graph(spec.name, data_path, rows, seed, trigger)
        train = tasks["train"]
        if in_step:
            workers = max(1, scaling.num_workers)
            train.set_cpu_request(str(scaling.cpus_per_worker * workers + 1))  # + the driver
            train.set_memory_request(scaling.memory_per_worker)
            train.set_memory_limit(scaling.memory_per_worker)
            if scaling.use_gpu:
                train.set_accelerator_type(GPU_RESOURCE).set_accelerator_limit(workers)
                kubernetes.add_toleration(train, key=GPU_RESOURCE, operator="Exists", effect="NoSchedule")
        else:
            train.set_cpu_request("500m").set_memory_request("1Gi").set_memory_limit("2Gi")
        return tasks["package"].output

    return pipeline
