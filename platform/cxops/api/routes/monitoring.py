"""Monitoring (`cxops.monitoring.service.MonitoringService`): the drift monitor's alert webhook, the alerts
and retraining runs everyone may read, and a retraining started by hand."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from cxops.api.access import governance, require
from cxops.api.routes._responses import errors
from cxops.governance.identity import Actor
from cxops.governance.service import Governance

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["monitoring"], responses=errors(401, 403))


class AlertIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "source": "cxops-drift",
                    "result": {
                        "id": "3f2c…",
                        "model": "churn",
                        "version": "7",
                        "verdict": "drift",
                        "drifted_features": ["tenure", "Contract"],
                        "window": {"rows": 300, "index": 4},
                    },
                }
            ]
        },
    )
    source: str = Field("cxops-drift", description="Who raised it; the drift monitor says cxops-drift.")
    result: dict[str, Any] = Field(description="The drift monitor's result for one tested window, as it is.")


class RetrainIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "new tariff launched"}]}
    )
    reason: str = Field(min_length=1)


def _service(gov: Governance) -> Any:
    from cxops.monitoring.service import MonitoringService

    return MonitoringService(gov)


@router.post("/monitoring/alerts", responses=errors(404, 422))
def receive_alert(
    body: AlertIn,
    actor: Actor = Depends(require("monitoring.alert")),
    gov: Governance = Depends(governance),
) -> dict[str, Any]:
    """Record a drift monitor's result (the webhook of `cxops_drift --alert-url`); a resent one counts once.

    The answer says what the monitoring policy did: retrain (with the run), page data engineering, wait for
    more windows, or only notify."""
    alert = _service(gov).receive_drift_result(actor, body.result)
    return {"recorded": alert is not None, "alert": None if alert is None else alert.to_dict()}


@router.get("/monitoring/alerts")
def list_alerts(
    model: str | None = None,
    limit: int = 50,
    actor: Actor = Depends(require("models.read")),
    gov: Governance = Depends(governance),
) -> list[dict[str, Any]]:
    """The latest alerts (of one model, or all), newest first."""
    return [a.to_dict() for a in _service(gov).alerts(actor, model, limit=min(max(limit, 1), 500))]


@router.get("/monitoring/retrains")
def list_retrains(
    model: str | None = None,
    actor: Actor = Depends(require("models.read")),
    gov: Governance = Depends(governance),
) -> list[dict[str, Any]]:
    """Retraining runs, newest first, with the candidate version each registered."""
    service = _service(gov)
    service.refresh_runs(model)
    return [r.to_dict() for r in service.runs(actor, model)]


@router.post("/models/{model}/retrain", responses=errors(404, 409, 422))
def retrain(
    model: str,
    body: RetrainIn,
    actor: Actor = Depends(require("monitoring.retrain")),
    gov: Governance = Depends(governance),
) -> dict[str, Any]:
    """Start the training pipeline for `model` by hand; the new version lands as a candidate."""
    return _service(gov).retrain(actor, model, reason=body.reason).to_dict()
