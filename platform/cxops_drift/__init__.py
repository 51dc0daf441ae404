"""CXOps drift monitor: Alibi Detect drift and data-quality checks on the inputs of served model versions.

A separate service with its own environment (`.venv-monitor`): Alibi Detect 0.11.4, the last Apache-2.0
release, needs pydantic 1 and numpy < 1.25, which the platform's environment cannot hold. It never imports
`cxops`; the two sides share only the bundle format, the CloudEvents and the HTTP API (docs/drift-monitor.md).
Importing this package is cheap: Alibi Detect and the sentence encoder load on first use.
"""

from cxops_drift.errors import ConflictError, DriftError, InvalidError, NotFoundError

__all__ = ["ConflictError", "DriftError", "InvalidError", "NotFoundError", "__version__"]

__version__ = "0.1.0"
