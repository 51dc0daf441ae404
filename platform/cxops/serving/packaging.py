"""Package a trained model for serving: a BentoML model, then a bento (with its Dockerfile).

    tag = save_bento_model(spec, classifier_dir, registry_version, settings)   # cxops-churn:<version>
    bento = build_bento(spec, tag, settings)                                   # cxops-churn:<version>

Both live under `settings.bentoml_home`. The bento's sources are this checkout's `platform/cxops`,
`models`, `feature_repo` and `serving` (see `serving/bentofile.yaml`); its Python requirements are the
serving packages pinned, with everything they pull in, from `requirements/main.lock`, so the image
runs the versions the tests ran. `env/docker/Dockerfile` in the bento builds the KServe predictor image.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

from cxops.config import Settings
from cxops.errors import CXOpsError, NotFoundError
from cxops.serving._bentoml_env import use_bentoml_home
from cxops.serving.artifact import write_served_model
from cxops.serving.runtime import MODEL_ENV, MODEL_TAG_ENV, bento_model_name
from cxops.specs import ModelSpec

__all__ = ["BENTOFILE", "bento_dockerfile", "build_bento", "save_bento_model", "serving_requirements"]

BENTOFILE = Path("serving") / "bentofile.yaml"
LOCK_FILE = Path("requirements") / "main.lock"

_REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _parse_lock(lock: Path) -> dict[str, tuple[str, set[str]]]:
    """name -> (requirement line, names of the packages that need it) from a `uv pip compile` lock."""
    packages: dict[str, tuple[str, set[str]]] = {}
    current: str | None = None
    in_via = False
    for line in lock.read_text().splitlines():
        match = _REQUIREMENT.match(line)
        if match:
            current = _normalise(match.group(1))
            packages[current] = (line.split(" #", 1)[0].strip(), set())
            in_via = False
            continue
        stripped = line.strip()
        if current is None or not stripped.startswith("#"):
            continue
        text = stripped.lstrip("#").strip()
        if text.startswith("via"):
            in_via = True
            text = text[3:].strip()
        elif not in_via:
            continue
        if text and not text.startswith("-r"):
            packages[current][1].add(_normalise(text.split()[0]))
    return packages


def serving_requirements(lock: Path, roots: list[str], exclude: tuple[str, ...] = ("bentoml",)) -> list[str]:
    """`roots` (e.g. "feast[redis]") and all they depend on, pinned as in `lock` (names in `exclude`
    left out: BentoML adds its own pin to every bento)."""
    packages = _parse_lock(lock)
    wanted: dict[str, str] = {}
    for root in roots:
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?", root.strip())
        if not match or _normalise(match.group(1)) not in packages:
            raise NotFoundError(
                f"serving requirement '{root}' is not pinned in {lock}; add it to "
                "requirements/main.in and re-lock (make lock)"
            )
        wanted[_normalise(match.group(1))] = match.group(2) or ""
    included = set(wanted)
    changed = True
    while changed:
        changed = False
        for name, (_, parents) in packages.items():
            if name not in included and parents & included:
                included.add(name)
                changed = True
    lines = []
    for name in sorted(included - set(exclude)):
        line = packages[name][0]
        extras = wanted.get(name)
        if extras:
            line = re.sub(r"^([A-Za-z0-9][A-Za-z0-9._-]*)", lambda m, e=extras: m.group(1) + e, line, count=1)
        lines.append(line)
    return lines


def save_bento_model(
    spec: ModelSpec, classifier_dir: Path, registry_version: int | str, settings: Settings
) -> str:
    """Store a trained classifier with its spec as the BentoML model `cxops-<model>:<version>`; its tag."""
    use_bentoml_home(settings)
    import bentoml

    labels = {"model": spec.name, "registry_version": str(registry_version), "team": spec.team}
    metadata = {
        "model_name": spec.name,
        "registry_version": str(registry_version),
        "inputs": spec.input_names,
        "owner": spec.owner.email,
    }
    with bentoml.models.create(bento_model_name(spec.name), labels=labels, metadata=metadata) as model:
        policy = settings.root / spec.recommendation.policy if spec.recommendation is not None else None
        write_served_model(Path(model.path), spec, Path(classifier_dir), registry_version, policy_path=policy)
    return str(model.tag)


def _bentofile(settings: Settings) -> dict[str, Any]:
    path = settings.root / BENTOFILE
    if not path.is_file():
        raise NotFoundError(
            f"no bento build file at {path}; the checkout in CXOPS_ROOT must hold {BENTOFILE}"
        )
    return yaml.safe_load(path.read_text()) or {}


def build_bento(spec: ModelSpec, model_tag: str, settings: Settings, *, version: str | None = None) -> str:
    """Build the bento serving `model_tag` from `serving/bentofile.yaml`; returns the bento tag."""
    use_bentoml_home(settings)
    import bentoml
    from bentoml._internal.bento.build_config import BentoEnvSchema
    from bentoml._internal.utils.args import set_arguments
    from bentoml.exceptions import BentoMLException

    stored = bentoml.models.get(model_tag)
    if stored.info.labels.get("model") != spec.name:
        raise CXOpsError(
            f"BentoML model {model_tag} holds model '{stored.info.labels.get('model')}', not '{spec.name}'",
            status_code=409,
        )
    config = _bentofile(settings)
    python = dict(config.get("python") or {})
    python["packages"] = serving_requirements(settings.root / LOCK_FILE, list(python.get("packages") or []))
    python["lock_packages"] = False  # pinned from our lock above; locking again would need the network
    envs = [
        BentoEnvSchema(**e)
        for e in config.get("envs") or []
        if e.get("name") not in (MODEL_ENV, MODEL_TAG_ENV)
    ]
    envs += [
        BentoEnvSchema(name=MODEL_ENV, value=spec.name),
        BentoEnvSchema(name=MODEL_TAG_ENV, value=str(stored.tag)),
    ]
    labels = {
        **(config.get("labels") or {}),
        "model": spec.name,
        "model_tag": str(stored.tag),
        "registry_version": stored.info.labels.get("registry_version", ""),
        "team": spec.team,
    }

    # The service module reads its target at import time: forget any import made for another model.
    for module in [m for m in sys.modules if m == "serving" or m.startswith("serving.")]:
        del sys.modules[module]
    try:
        bento = bentoml.bentos.build(
            service=config["service"],
            name=bento_model_name(spec.name),
            version=version,
            description=config.get("description"),
            labels=labels,
            include=config.get("include"),
            exclude=config.get("exclude"),
            envs=envs,
            docker=config.get("docker"),
            python=python,
            models=[str(stored.tag)],
            build_ctx=str(settings.root),
            args={"model": spec.name, "model_tag": str(stored.tag)},
        )
    except BentoMLException as exc:
        raise CXOpsError(f"building the bento of model '{spec.name}' ({stored.tag}) failed: {exc}") from exc
    finally:
        set_arguments({})
    return str(bento.tag)


def bento_dockerfile(bento_tag: str, settings: Settings) -> Path:
    """The Dockerfile BentoML generated for the bento (the KServe predictor image is built from it)."""
    use_bentoml_home(settings)
    import bentoml

    path = Path(bentoml.bentos.get(bento_tag).path) / "env" / "docker" / "Dockerfile"
    if not path.is_file():
        raise NotFoundError(f"bento {bento_tag} has no generated Dockerfile at {path}")
    return path
