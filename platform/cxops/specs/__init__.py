"""Model specs by name: `load_spec("churn")` reads and validates `models/churn/spec.yaml`."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import yaml
from pydantic import ValidationError

from cxops.config import Settings, get_settings
from cxops.errors import InvalidInputError, NotFoundError
from cxops.specs._model import Column, ModelSpec, ScalingSpec

__all__ = ["Column", "ModelSpec", "ScalingSpec", "list_specs", "load_model_code", "load_spec", "model_dir"]


def model_dir(name: str, settings: Settings | None = None) -> Path:
    settings = settings or get_settings()
    path = settings.models_dir / name
    if not (path / "spec.yaml").is_file():
        known = ", ".join(list_specs(settings)) or "none"
        raise NotFoundError(f"no model named '{name}' in {settings.models_dir}; known models: {known}")
    return path


def list_specs(settings: Settings | None = None) -> list[str]:
    settings = settings or get_settings()
    return sorted(p.parent.name for p in settings.models_dir.glob("*/spec.yaml"))


def load_spec(name: str, settings: Settings | None = None) -> ModelSpec:
    path = model_dir(name, settings) / "spec.yaml"
    try:
        spec = ModelSpec.model_validate(yaml.safe_load(path.read_text()))
    except ValidationError as exc:
        raise InvalidInputError(f"model spec {path} is invalid:\n{exc}") from exc
    if spec.name != name:
        raise InvalidInputError(f"model spec {path} names itself '{spec.name}'; it must be '{name}'")
    return spec


def load_model_code(name: str, settings: Settings | None = None) -> ModuleType:
    """The model's own code, `models/<name>/model.py`, imported as `cxops_models.<name>`."""
    module_name = f"cxops_models.{name.replace('-', '_')}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    path = model_dir(name, settings) / "model.py"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise NotFoundError(f"model '{name}' has no code file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
