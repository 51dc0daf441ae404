"""Facts about the code that produced an artifact (recorded in a model version's lineage)."""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["code_version"]


def code_version(root: Path) -> dict[str, str | bool | None]:
    """The git commit of `root` and whether the work tree had uncommitted changes (None outside git)."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(dirty) if commit else None}
