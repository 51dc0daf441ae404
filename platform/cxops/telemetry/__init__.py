"""OpenTelemetry for the platform: traces from the gateway through the model servers to Feast and the
model, and the platform's metrics (requests, latency, errors per model version, Feast lookups, drift).

    providers.py    configure_telemetry: tracer and meter providers with the exporters the settings choose
    instruments.py  the platform's metric instruments; record_drift for the drift monitor
    serving.py      a model server's request span and metrics, and its Feast lookup and model call spans
    _jsonl.py       the `file` exporters (JSON lines)
"""

from cxops.telemetry.instruments import Instruments, platform_instruments, record_drift
from cxops.telemetry.providers import (
    Telemetry,
    build_telemetry,
    configure_telemetry,
    global_telemetry,
    telemetry_with,
)

__all__ = [
    "Instruments",
    "Telemetry",
    "build_telemetry",
    "configure_telemetry",
    "global_telemetry",
    "platform_instruments",
    "record_drift",
    "telemetry_with",
]
