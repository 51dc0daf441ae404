"""What the monitoring policy does with one alert: retrain, wait, or only tell people. A pure function.

Data-quality failures never retrain: the inputs are broken upstream, and a model retrained on broken data
would learn the bug. Drift retrains only where the model's policy allows it, once enough features drifted in
enough consecutive windows, outside the cool-down and when no retraining of the model is already running.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from cxops.monitoring.policy import ModelMonitoringPolicy

__all__ = ["Action", "Decision", "decide"]

Action = Literal["retrain", "notify", "page_data_engineering", "waiting", "cooldown", "already_retraining"]


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str


def decide(
    kind: Literal["drift", "data_quality", "performance"],
    policy: ModelMonitoringPolicy,
    *,
    drifted_features: int = 0,
    consecutive: int = 1,
    running_retrain: int | None = None,
    last_automatic_retrain: datetime | None = None,
    now: datetime,
) -> Decision:
    """The action for an alert of `kind`.

    `consecutive`: drift windows in a row of this version, this one included; `running_retrain`: the id of a
    retraining of the model still running; `last_automatic_retrain`: when the last one an alert started began.
    """
    if kind == "data_quality":
        return Decision(
            "page_data_engineering",
            "inputs break the serving schema: an upstream data bug, not drift; retraining would learn it",
        )
    if kind == "drift" and drifted_features < policy.min_drifted_features:
        return Decision(
            "notify",
            f"{drifted_features} drifted feature(s), below the policy's {policy.min_drifted_features}",
        )
    if kind == "drift" and consecutive < policy.consecutive_windows:
        return Decision(
            "waiting",
            f"drift in {consecutive} of the {policy.consecutive_windows} consecutive windows needed",
        )
    if not policy.retrain:
        return Decision("notify", "the monitoring policy does not retrain this model automatically")
    if running_retrain is not None:
        return Decision(
            "already_retraining", f"retraining run {running_retrain} of this model is still running"
        )
    if last_automatic_retrain is not None:
        until = last_automatic_retrain + timedelta(hours=policy.cooldown_hours)
        if now < until:
            return Decision(
                "cooldown",
                f"the last automatic retraining began {last_automatic_retrain:%Y-%m-%d %H:%M} UTC; the "
                f"{policy.cooldown_hours:g} h cool-down lasts until {until:%Y-%m-%d %H:%M} UTC",
            )
    return Decision("retrain", f"{kind} alert: the monitoring policy retrains this model")
