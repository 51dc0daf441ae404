"""The training run inside a KubeRay RayJob: `python -m cxops.training.remote --model M --staging URI`.

KubeRay runs this entrypoint on the RayJob's head node (`ray job submit`). It reads the entity frame the
pipeline step staged under `URI/inputs/`, runs the very training step a local run uses
(`cxops.lifecycle.steps.train`) on the RayJob's own Ray cluster, and writes the model folder, the test
and training splits and the step's summary under `URI/outputs/`, where the pipeline step picks them up
(`cxops.training.rayjob.train_on_rayjob`). The summary is written last: its presence means the outputs
are complete.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cxops.config import Settings
from cxops.errors import CXOpsError
from cxops.training import staging

__all__ = ["StagedRun", "json_safe", "main", "run"]

# Inside a RayJob, `auto` connects to the cluster KubeRay started for the job (the job's driver gets its
# address in RAY_ADDRESS); it never starts a Ray of its own.
RAY_ADDRESS = "auto"


@dataclass(frozen=True)
class StagedRun:
    """Where one RayJob's files live under its staging prefix (`<staging_uri>/rayjobs/<job name>`)."""

    prefix: str

    @property
    def entities(self) -> str:
        return staging.join_uri(self.prefix, "inputs", "entities.parquet")

    @property
    def model(self) -> str:
        return staging.join_uri(self.prefix, "outputs", "model")

    @property
    def test(self) -> str:
        return staging.join_uri(self.prefix, "outputs", "test.parquet")

    @property
    def train(self) -> str:
        return staging.join_uri(self.prefix, "outputs", "train.parquet")

    @property
    def summary(self) -> str:
        return staging.join_uri(self.prefix, "outputs", "summary.json")


def json_safe(value: Any) -> Any:
    """`value` with only JSON types: NaN and infinities become null, numpy scalars plain numbers, anything
    else its string."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [json_safe(item) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        try:
            return json_safe(item())
        except (TypeError, ValueError):
            pass
    return str(value)


def run(model: str, prefix: str, settings: Settings, *, progress: Any = print) -> dict[str, Any]:
    """Download the inputs staged under `prefix`, train `model` on the Ray cluster this process runs in,
    and upload the outputs and the summary; returns the summary as written."""
    from cxops.lifecycle import steps

    staged = StagedRun(prefix)
    # Checkpoints go where every pod of the RayJob can reach them: the run's staging prefix.
    on_cluster = settings.model_copy(
        update={
            "ray_address": RAY_ADDRESS,
            "ray_storage": settings.ray_storage or staging.join_uri(prefix, "ray"),
        }
    )
    with tempfile.TemporaryDirectory(prefix="cxops-rayjob-") as tmp:
        work = Path(tmp)
        entities = staging.download(staged.entities, work / "inputs" / "entities.parquet", settings)
        progress(f"[remote] inputs from {staged.entities}")
        outputs = work / "outputs"
        summary = steps.train(
            model,
            str(entities),
            str(outputs / "model"),
            str(outputs / "test.parquet"),
            on_cluster,
            train_path=str(outputs / "train.parquet"),
        )
        staging.upload(outputs / "model", staged.model, settings)
        staging.upload(outputs / "test.parquet", staged.test, settings)
        staging.upload(outputs / "train.parquet", staged.train, settings)
        written = json_safe(summary)
        staging.write_text(staged.summary, json.dumps(written, indent=2, allow_nan=False), settings)
    progress(f"[remote] model, splits and summary in {staging.join_uri(prefix, 'outputs')}")
    return written


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cxops.training.remote",
        description=(
            "Train one model inside a KubeRay RayJob: read the entity frame staged under "
            "STAGING/inputs/, train on the RayJob's Ray cluster (RAY_ADDRESS, else the local cluster's "
            "address file) with the settings of the CXOPS_* environment, and write the model, the test "
            "and training splits and summary.json under STAGING/outputs/. The pipeline's train step "
            "submits it (CXOPS_TRAINING_BACKEND=rayjob); run it by hand only to repeat a failed run."
        ),
    )
    parser.add_argument("--model", required=True, help="model name (models/<name>/spec.yaml)")
    parser.add_argument(
        "--staging",
        required=True,
        metavar="URI",
        help="the run's staging prefix: <CXOPS_STAGING_URI>/rayjobs/<RayJob name> (s3://, gs:// or file://)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        run(args.model, args.staging, Settings())
    except CXOpsError as error:
        print(f"[remote] training '{args.model}' failed: {error}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
