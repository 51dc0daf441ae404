"""Where the triage service finds its model endpoints and its policy: `CXOPS_TRIAGE_*` variables.

    CXOPS_TRIAGE_INTENT_URL=http://intent.models.svc  CXOPS_TRIAGE_SENTIMENT_URL=http://sentiment.models.svc \
    CXOPS_TRIAGE_CHURN_URL=http://churn.models.svc  cxops triage serve

Each URL is the base of a KServe Open Inference Protocol (V2) server; the service calls
`{url}/v2/models/{model name}/infer` and probes `{url}/v2/health/ready`.

`CXOPS_TRIAGE_TEXT_ROUTE=batched` asks the intent and sentiment servers on their batched route,
`POST {url}/classify`, instead: the CXOps model server merges concurrent requests into one encoder batch
there (BentoML adaptive batching, `serving.adaptive_batching` in the model's spec), which raises its
throughput under load. Churn is always asked over V2. The default stays `v2` because V2 is the contract
every model server honours: `/classify` exists only on CXOps bentos of a text model whose spec enables
batching (an older version, a canary built before it, or another KServe runtime answers 404, and triage
would send every message to human review), its path names no model, and it is not part of the protocol
that KServe's tooling speaks. Switch once every served intent and sentiment version has the route.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from cxops.config import Settings
from cxops.triage._errors import TriageError

__all__ = ["TextRoute", "TriageSettings"]

TextRoute = Literal["v2", "batched"]
"""How the text models are asked: `v2` (`/v2/models/{name}/infer`) or `batched` (`/classify`)."""


class TriageSettings(BaseSettings):
    """The triage service's configuration (environment prefix `CXOPS_TRIAGE_`)."""

    model_config = SettingsConfigDict(env_prefix="CXOPS_TRIAGE_", extra="forbid")

    intent_url: str = Field(min_length=1)
    """Base URL of the intent model's V2 server."""
    sentiment_url: str = Field(min_length=1)
    """Base URL of the sentiment model's V2 server."""
    churn_url: str | None = None
    """Base URL of the churn model's V2 server; unset: decisions never consider churn risk."""
    intent_model: str = "intent"
    sentiment_model: str = "sentiment"
    churn_model: str = "churn"
    """Model names in the V2 paths (the InferenceService names, when they differ from the spec names)."""
    text_route: TextRoute = "v2"
    """The route the intent and sentiment models are asked on: `v2`, or `batched` (their `/classify`
    route, where concurrent requests are merged into one batch); churn is always asked over V2."""
    timeout_s: float = Field(2.0, gt=0, le=60)
    """Limit on each model call. The three calls run concurrently, so a decision waits at most this long."""
    policy_path: Path = Path("policies/triage.yaml")
    """The routing policy; a relative path is read from the project root (`CXOPS_ROOT`)."""

    @classmethod
    def load(cls, **overrides: Any) -> TriageSettings:
        """Settings from the environment, with non-None `overrides` (command-line options) on top."""
        values = {key: value for key, value in overrides.items() if value is not None}
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = []
            for error in exc.errors():
                field = ".".join(str(part) for part in error["loc"])
                hint = f" (set CXOPS_TRIAGE_{field.upper()} or the --{field.replace('_', '-')} option)"
                problems.append(f"{field}: {error['msg']}{hint if error['type'] == 'missing' else ''}")
            raise TriageError(
                "the triage service is not configured: " + "; ".join(problems), status_code=422
            ) from None

    def resolved_policy_path(self, settings: Settings | None = None) -> Path:
        if self.policy_path.is_absolute():
            return self.policy_path
        return (settings or Settings()).root / self.policy_path
