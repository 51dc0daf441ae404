"""Point BentoML at the CXOps home (`settings.bentoml_home`) for models and bentos, in this process.

BentoML reads `BENTOML_HOME` once and caches its stores, so setting the variable is not enough in a
process that already used BentoML (or that serves several homes, as tests do): the stores are
re-pointed as well. Child processes (`bentoml serve`) get `bentoml_env` instead.
"""

from __future__ import annotations

import os
from pathlib import Path

from cxops.config import Settings

__all__ = ["bentoml_env", "use_bentoml_home"]


def bentoml_env(settings: Settings) -> dict[str, str]:
    """Environment for a BentoML child process working in the CXOps home."""
    return {"BENTOML_HOME": str(settings.bentoml_home), "BENTOML_DO_NOT_TRACK": "True"}


def use_bentoml_home(settings: Settings) -> Path:
    home = settings.bentoml_home
    os.environ.update(bentoml_env(settings))
    from bentoml._internal.bento import BentoStore
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.models import ModelStore

    dirs = {name: home / name for name in ("bentos", "models", "envs", "tmp")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    container = BentoMLContainer
    container.bentoml_home.set(str(home))
    container.bento_store_dir.set(str(dirs["bentos"]))
    container.model_store_dir.set(str(dirs["models"]))
    container.env_store_dir.set(str(dirs["envs"]))
    container.tmp_bento_store_dir.set(str(dirs["tmp"]))
    container.bento_store.set(BentoStore(str(dirs["bentos"])))
    container.tmp_bento_store.set(BentoStore(str(dirs["tmp"])))
    container.model_store.set(ModelStore(str(dirs["models"])))
    return home
