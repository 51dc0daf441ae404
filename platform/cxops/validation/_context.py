"""One in-memory Great Expectations context per process (GX import and set-up are paid once)."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

__all__ = ["GXHandle", "gx_handle", "lock"]

_DATASOURCE = "cxops_frames"
_ASSET = "raw"
_BATCH = "whole_frame"

lock = threading.RLock()
"""Serialises suite updates and runs: the context and its stores are shared by the whole process."""

_handle: GXHandle | None = None


@dataclass(frozen=True)
class GXHandle:
    context: Any
    """The ephemeral (in-memory) data context."""
    batch_definition: Any
    """Whole-dataframe batch definition of the pandas asset; the frame comes in as a batch parameter."""


def gx_handle() -> GXHandle:
    """The process's GX context with its pandas datasource, built on first use."""
    global _handle
    with lock:
        if _handle is None:
            _handle = _build()
        return _handle


def _build() -> GXHandle:
    # No usage statistics (also set in the config below); progress bars are off through the config.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    asset = context.data_sources.add_pandas(_DATASOURCE).add_dataframe_asset(_ASSET)
    return GXHandle(context=context, batch_definition=asset.add_batch_definition_whole_dataframe(_BATCH))
