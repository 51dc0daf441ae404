"""Late outcomes and realised performance (`cxops.monitoring.outcomes.OutcomeService`): systems of record
report what really happened to predictions; everyone who may read models sees how right each version was."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from cxops.api.access import governance, require
from cxops.api.routes._responses import errors
from cxops.api.schemas import ErrorOut
from cxops.governance.identity import Actor
from cxops.governance.service import Governance
from cxops.monitoring.errors import MonitoringError
from cxops.monitoring.outcomes import (
    MAX_OUTCOMES_PER_CALL,
    Bucket,
    OutcomeIn,
    OutcomeReceipt,
    OutcomeService,
    RealisedMetrics,
)

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["monitoring"], responses=errors(401, 403))

_TOO_MANY: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorOut, "description": f"More than {MAX_OUTCOMES_PER_CALL:,} outcomes in one call."}
}


class OutcomesIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "outcomes": [
                        {"prediction_id": "5b0f3c9e2d4a4f6b8e1a7c3d9f2e6a10", "outcome": "Yes"},
                        {
                            "prediction_id": "0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f",
                            "row": 0,
                            "outcome": "No",
                            "observed_at": "2026-12-01T09:30:00Z",
                        },
                    ]
                }
            ]
        },
    )
    outcomes: list[OutcomeIn] = Field(
        description=f"At most {MAX_OUTCOMES_PER_CALL:,} per call; send more in several calls."
    )


@router.post("/models/{model}/outcomes", responses={**errors(404, 422), **_TOO_MANY})
def record_outcomes(
    model: str,
    body: OutcomesIn,
    actor: Actor = Depends(require("outcomes.record")),
    gov: Governance = Depends(governance),
) -> OutcomeReceipt:
    """Record what really happened to logged predictions (by the request id the gateway returned).

    Outcomes of predictions recorded before are counted as duplicates and keep their first value; ids not
    in the model's request log are listed as unknown. One outcome that is not a label of the model refuses
    the whole call (422) and stores nothing."""
    if len(body.outcomes) > MAX_OUTCOMES_PER_CALL:
        raise MonitoringError(
            f"{len(body.outcomes):,} outcomes for model {model!r} in one call; the limit is "
            f"{MAX_OUTCOMES_PER_CALL:,} per call: send them in batches",
            status_code=413,
        )
    return OutcomeService(gov).record(actor, model, body.outcomes)


@router.get("/models/{model}/performance", responses=errors(404, 422))
def performance(
    model: str,
    version: int | None = Query(None, description="Only this version. Default: every version."),
    since: datetime | None = Query(
        None, description="Only predictions made at or after this instant (ISO 8601; naive means UTC)."
    ),
    bucket: Bucket = Query("day", description="Period of the metrics: `day`, ISO `week` or `all`."),
    actor: Actor = Depends(require("models.read")),
    gov: Governance = Depends(governance),
) -> list[RealisedMetrics]:
    """Realised metrics per version and period of prediction time: accuracy, and for binary models the
    Brier score, ROC AUC and predicted vs observed positive rates. Sorted by version, then period."""
    return OutcomeService(gov).realised(actor, model, version=version, since=since, bucket=bucket)
