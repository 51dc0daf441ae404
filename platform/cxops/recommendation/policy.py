"""The offer policy (`policies/offers.yaml`): the catalogue, who may be offered what, consent, retention.

Everything here is data the business owns and the platform checks: offer ids are unique, every column
an eligibility rule names is a subscriber column of the recommendation spec with the values it allows,
and `k` limits are sane. `held` and `eligible` evaluate the catalogue on subscriber rows, vectorised, so
training, evaluation and serving all agree on the candidate set of a customer.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cxops.config import Settings
from cxops.recommendation.errors import OfferPolicyError
from cxops.specs import ModelSpec

__all__ = ["ConsentColumns", "KLimits", "Offer", "OfferKind", "OfferPolicy", "load_offer_policy"]

OfferKind = Literal["service", "add_on", "contract", "retention"]
POLICY_FILE = Path("policies") / "offers.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Offer(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,40}$")
    name: str
    kind: OfferKind
    monthly_price: float
    """Change to the customer's monthly bill when accepted (negative for discounts)."""
    held_when: dict[str, list[str]] = {}
    """The customer holds the offer when any of these columns has one of its values. Retention offers
    are never held: they are one-off."""
    eligible_when: dict[str, list[str]] = {}
    """Every condition must hold for the offer to be made (besides not holding it)."""

    @model_validator(mode="after")
    def _retention_is_not_held(self) -> Offer:
        if (self.kind == "retention") != (not self.held_when):
            raise ValueError(
                f"offer '{self.id}': retention offers have no 'held_when'; every other offer needs one"
            )
        return self


class KLimits(_Strict):
    default: int = Field(3, ge=1)
    max: int = Field(10, ge=1)

    @model_validator(mode="after")
    def _default_within_max(self) -> KLimits:
        if self.default > self.max:
            raise ValueError(f"k.default ({self.default}) exceeds k.max ({self.max})")
        return self


class ConsentColumns(_Strict):
    marketing_consent_column: str = "marketing_consent"
    profiling_opt_out_column: str = "profiling_opt_out"


class Retention(_Strict):
    churn_at_least: float = Field(0.5, ge=0, le=1)


class OfferPolicy(_Strict):
    version: str
    k: KLimits = KLimits()
    channels: list[str] = Field(min_length=1)
    consent: ConsentColumns = ConsentColumns()
    retention: Retention = Retention()
    offers: list[Offer] = Field(min_length=2)

    @model_validator(mode="after")
    def _unique_ids(self) -> OfferPolicy:
        ids = [o.id for o in self.offers]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"offer ids must be unique; repeated: {repeated}")
        return self

    @cached_property
    def by_id(self) -> dict[str, Offer]:
        return {o.id: o for o in self.offers}

    @property
    def offer_ids(self) -> list[str]:
        return [o.id for o in self.offers]

    def offer(self, offer_id: str) -> Offer:
        try:
            return self.by_id[offer_id]
        except KeyError:
            raise OfferPolicyError(
                f"offer '{offer_id}' is not in the catalogue (policies/offers.yaml, version {self.version}); "
                f"known offers: {', '.join(self.offer_ids)}",
                status_code=422,
            ) from None

    def columns(self) -> set[str]:
        """Every subscriber column the catalogue's rules read."""
        return {c for o in self.offers for c in (*o.held_when, *o.eligible_when)}

    def check_against(self, spec: ModelSpec) -> None:
        """Fail when a rule names a column the spec does not have, or a value it does not allow."""
        problems = []
        for offer in self.offers:
            for part, conditions in (("held_when", offer.held_when), ("eligible_when", offer.eligible_when)):
                for column, values in conditions.items():
                    try:
                        declared = spec.data.column(column)
                    except KeyError:
                        problems.append(f"offer '{offer.id}' {part}: no subscriber column '{column}'")
                        continue
                    allowed = declared.categories or []
                    unknown = [v for v in values if v not in allowed]
                    if unknown:
                        problems.append(f"offer '{offer.id}' {part}: {column} has no value(s) {unknown}")
        if problems:
            raise OfferPolicyError(
                f"policies/offers.yaml (version {self.version}) disagrees with models/{spec.name}/spec.yaml: "
                + "; ".join(problems)
            )

    # -- evaluated on subscriber rows -----------------------------------------------------------------

    @staticmethod
    def _any(frame: pd.DataFrame, conditions: dict[str, list[str]]) -> np.ndarray:
        hit = np.zeros(len(frame), dtype=bool)
        for column, values in conditions.items():
            hit |= frame[column].astype(str).isin(values).to_numpy()
        return hit

    @staticmethod
    def _all(frame: pd.DataFrame, conditions: dict[str, list[str]]) -> np.ndarray:
        hit = np.ones(len(frame), dtype=bool)
        for column, values in conditions.items():
            hit &= frame[column].astype(str).isin(values).to_numpy()
        return hit

    def held(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Customers x offers: True where the customer holds the offer."""
        return pd.DataFrame(
            {o.id: self._any(frame, o.held_when) for o in self.offers}, index=frame.index, dtype=bool
        )

    def eligible(self, frame: pd.DataFrame, churn_probability: np.ndarray | None = None) -> pd.DataFrame:
        """Customers x offers: True where the offer may be made (not held, conditions met; retention
        offers only when the churn probability is known and at least `retention.churn_at_least`)."""
        held = self.held(frame)
        at_risk = (
            np.zeros(len(frame), dtype=bool)
            if churn_probability is None
            else np.nan_to_num(np.asarray(churn_probability, dtype=float), nan=0.0)
            >= self.retention.churn_at_least
        )
        out = {}
        for offer in self.offers:
            allowed = self._all(frame, offer.eligible_when) & ~held[offer.id].to_numpy()
            if offer.kind == "retention":
                allowed &= at_risk
            out[offer.id] = allowed
        return pd.DataFrame(out, index=frame.index, dtype=bool)

    def catalogue_frame(self) -> pd.DataFrame:
        """One row per offer: the offer features the feature store serves."""
        return pd.DataFrame(
            {
                "offer_id": self.offer_ids,
                "offer_kind": [o.kind for o in self.offers],
                "offer_monthly_price": [float(o.monthly_price) for o in self.offers],
            }
        )


def load_offer_policy(settings: Settings, path: Path | None = None) -> OfferPolicy:
    path = path or settings.root / POLICY_FILE
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise OfferPolicyError(f"no offer policy at {path}; restore policies/offers.yaml") from None
    except yaml.YAMLError as exc:
        raise OfferPolicyError(f"offer policy {path} is not valid YAML: {exc}") from None
    try:
        return OfferPolicy.model_validate(raw)
    except ValidationError as exc:
        raise OfferPolicyError(f"offer policy {path} is invalid:\n{exc}") from None
