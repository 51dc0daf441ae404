"""Retention as data: `policies/retention.yaml` says how long each store keeps personal data, which feature
views differ from their store, and how soon a model trained on an erased customer's rows is retrained."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dateutil.relativedelta import relativedelta
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cxops.config import Settings
from cxops.governance.errors import PolicyError
from cxops.governance.policy import _load

__all__ = ["STORES", "Cutoff", "Period", "RetentionPolicy", "load_retention_policy"]

STORES = ("offline_features", "online_features", "request_logs", "dataset_snapshots")
"""Stores every policy must give a period: the platform holds personal data in each of them."""

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Period(_Strict):
    """How long a row is kept after its event time: a number of days or of calendar months."""

    days: int | None = Field(None, gt=0)
    months: int | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _exactly_one(self) -> Period:
        if (self.days is None) == (self.months is None):
            raise ValueError("give a period as exactly one of {days: N} or {months: N}")
        return self

    def before(self, now: datetime) -> datetime:
        """The cutoff at `now`: rows whose event time is earlier than this have expired."""
        if self.months is not None:
            return now - relativedelta(months=self.months)
        assert self.days is not None
        return now - timedelta(days=self.days)

    def __str__(self) -> str:
        return f"{self.months} months" if self.months is not None else f"{self.days} days"


@dataclass(frozen=True)
class Cutoff:
    """What has expired in one store at one moment: rows older than `before`, unless their feature view has
    its own cutoff in `views` (None there: the view is kept without a time limit)."""

    store: str
    period: str
    before: datetime
    views: Mapping[str, datetime | None] = field(default_factory=dict)

    def for_view(self, view: str) -> datetime | None:
        return self.views.get(view, self.before)


class RetentionPolicy(_Strict):
    version: str
    stores: dict[str, Period]
    """Store -> period. Every store of `STORES` is required; targets added later name their own store."""
    views: dict[str, Period | None] = {}
    """Feature view -> its own period in the feature stores (offline and online); null: no time limit."""
    retrain_within_days: int = Field(30, gt=0, le=365)

    @model_validator(mode="after")
    def _every_store(self) -> RetentionPolicy:
        missing = [s for s in STORES if s not in self.stores]
        if missing:
            raise ValueError(
                f"`stores` gives no period for {', '.join(missing)}; each of {', '.join(STORES)} needs one"
            )
        odd = sorted(n for n in [*self.stores, *self.views] if not _NAME.match(n))
        if odd:
            raise ValueError(f"names {odd} are not lower_snake_case store or feature view names")
        return self

    def period(self, store: str) -> Period:
        if store not in self.stores:
            raise PolicyError(
                f"policies/retention.yaml gives store '{store}' no period; add `{store}: {{days: N}}` "
                "(or `{months: N}`) under `stores`"
            )
        return self.stores[store]

    def cutoff(self, store: str, now: datetime) -> Cutoff:
        views = {name: None if p is None else p.before(now) for name, p in self.views.items()}
        period = self.period(store)
        return Cutoff(store, str(period), period.before(now), views)

    def retrain_by(self, now: datetime) -> datetime:
        return now + timedelta(days=self.retrain_within_days)


def load_retention_policy(settings: Settings) -> RetentionPolicy:
    return _load(RetentionPolicy, settings.root / "policies" / "retention.yaml")
