"""The training pipeline, one for every model: `model` names the spec in `models/<model>/spec.yaml`."""

from kfp import dsl

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


@dsl.pipeline(
    name=PIPELINE_NAME, description="Validate, featurise, train, evaluate, register and package a model."
)
def training_pipeline(
    model: str = "churn", data_path: str = "", rows: int = 5000, seed: int = 7, trigger: str = ""
) -> str:
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
    return package.output
