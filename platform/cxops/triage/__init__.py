"""Ticket triage: route a customer message to a queue, with a priority, and say when a person takes over.

Triage is its own small service (`cxops.triage.app`, `cxops triage serve`). It does not load models:
it calls the intent, sentiment and churn model servers over the KServe Open Inference Protocol (V2),
concurrently and each with its own timeout, so every model keeps its own deployment, version and canary
release. Routing is data, `policies/triage.yaml` (`cxops.triage.policy`), applied by a pure decision
function (`cxops.triage.decide`). When the intent or sentiment model cannot be reached, the message
goes to human review instead of failing. Application teams call it over HTTP or with `TriageClient`.
See docs/triage.md.

Importing this package stays light (no FastAPI or uvicorn): the app lives in `cxops.triage.app`.
"""

from __future__ import annotations

from cxops.triage._errors import (
    ModelUnavailableError,
    PolicyError,
    TriageError,
    TriageServiceError,
    TriageUnavailableError,
    UnknownCustomerError,
)
from cxops.triage.client import TriageClient
from cxops.triage.decide import Decision, Prediction, Signals, decide
from cxops.triage.policy import TriagePolicy, load_policy
from cxops.triage.schemas import TriageRequest, TriageResult
from cxops.triage.settings import TriageSettings

__all__ = [
    "Decision",
    "ModelUnavailableError",
    "PolicyError",
    "Prediction",
    "Signals",
    "TriageClient",
    "TriageError",
    "TriagePolicy",
    "TriageRequest",
    "TriageResult",
    "TriageServiceError",
    "TriageSettings",
    "TriageUnavailableError",
    "UnknownCustomerError",
    "decide",
    "load_policy",
]
