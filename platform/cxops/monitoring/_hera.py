"""Hera, imported without its side effect on PyYAML.

Importing Hera replaces PyYAML's string representer for the whole process (block style for multi-line
strings), which would change every YAML file the platform writes afterwards, the compiled KFP pipeline
included. Import Hera's names from here, never from `hera` directly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import yaml


@contextlib.contextmanager
def _pyyaml_left_as_it_is() -> Iterator[None]:
    classes = (yaml.Dumper, yaml.SafeDumper, yaml.representer.Representer, yaml.representer.SafeRepresenter)
    # Copies: `add_representer` updates a class's own table in place.
    saved = {
        cls: dict(cls.__dict__["yaml_representers"]) for cls in classes if "yaml_representers" in cls.__dict__
    }
    try:
        yield
    finally:
        for cls in classes:
            if cls in saved:
                cls.yaml_representers = saved[cls]
            elif "yaml_representers" in cls.__dict__:
                delattr(cls, "yaml_representers")


with _pyyaml_left_as_it_is():
    from hera.exceptions import HeraException
    from hera.workflows import (
        ConfigMapEnvFrom,
        Container,
        CronWorkflow,
        Env,
        Parameter,
        Resources,
        RetryStrategy,
        SecretEnvFrom,
        Workflow,
        WorkflowsService,
    )
    from hera.workflows.models import Backoff, Metadata, TTLStrategy, WorkflowCreateRequest
    from hera.workflows.models import CronWorkflow as CronWorkflowModel
    from hera.workflows.models import Workflow as WorkflowModel

__all__ = [
    "Backoff",
    "ConfigMapEnvFrom",
    "Container",
    "CronWorkflow",
    "CronWorkflowModel",
    "Env",
    "HeraException",
    "Metadata",
    "Parameter",
    "Resources",
    "RetryStrategy",
    "SecretEnvFrom",
    "TTLStrategy",
    "Workflow",
    "WorkflowCreateRequest",
    "WorkflowModel",
    "WorkflowsService",
]
