"""The root error of Kubernetes delivery: rendering and validating manifests."""

from __future__ import annotations

from cxops.errors import CXOpsError

__all__ = ["DeployError", "ManifestInvalidError"]


class DeployError(CXOpsError):
    """Something could not be rendered (a chart, a value, a registry state)."""

    status_code = 422


class ManifestInvalidError(DeployError):
    """Rendered manifests break their schemas; `problems` lists each one (object, field path, message)."""

    def __init__(self, problems: list[str]) -> None:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"{len(problems)} schema error(s) in the rendered manifests:\n  {shown}{more}")
        self.problems = problems
