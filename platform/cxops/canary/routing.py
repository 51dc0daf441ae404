"""Which model server answers a request: the stable version, or the candidate of a canary release.

A customer is sticky: their pseudonym, hashed with the canary id, falls in a bucket in [0, 100), and
they go to the candidate when the bucket is below the canary percentage. The same customer therefore
keeps their side for as long as the canary id and percentage stay the same, and raising the percentage
only moves customers from stable to candidate, never back. Requests that name no customer are split by
a random draw with the same weights.
"""

from __future__ import annotations

import hashlib
import random
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cxops.canary.errors import CanaryInvalidError, CanaryNotFoundError

__all__ = ["Backend", "Route", "RoutingTable", "Shadow", "Side", "bucket"]

_BUCKET_SPACE = 2.0**64
Url = Annotated[str, Field(pattern=r"^https?://[^\s/]+.*$", description="Base URL of a model server")]
Percent = Annotated[float, Field(ge=0, le=100)]


class Side(StrEnum):
    STABLE = "stable"
    CANDIDATE = "candidate"


class Backend(BaseModel):
    """One model server: the model version it serves and where it listens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1)
    url: Url


class Shadow(BaseModel):
    """A server sent a copy of `percent` % of the stable requests; its answers are compared, never used."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1)
    url: Url
    percent: Percent = 100.0


class Route(BaseModel):
    """How the requests of one model are split between its stable version and a candidate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1)
    stable: Backend
    candidate: Backend | None = None
    percent: Percent = 0.0
    """Share of traffic (0–100) for the candidate."""
    canary_id: str = ""
    """Names one canary release: a new id re-draws which customers see the candidate."""
    shadow: Shadow | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Route:
        if self.percent > 0 and self.candidate is None:
            raise ValueError(
                f"route of model '{self.model}' sends {self.percent}% to a candidate but names none; "
                "set `candidate` or put `percent` back to 0"
            )
        if self.candidate is not None and not self.canary_id:
            raise ValueError(
                f"route of model '{self.model}' has a candidate but no canary_id; give the release an id "
                "so that customers stay on their side"
            )
        return self

    def choose(
        self, customer_key: str | None, *, excluded: bool = False, rng: random.Random | None = None
    ) -> Side:
        """The side for a request of customer `customer_key` (a pseudonym), or of nobody in particular.

        `excluded` customers (who objected to automated decisions by an unproven model) always get stable.
        """
        if self.candidate is None or self.percent <= 0 or excluded:
            return Side.STABLE
        if self.percent >= 100:
            return Side.CANDIDATE
        if customer_key is None:
            draw = (rng or random).random() * 100.0
        else:
            draw = bucket(self.canary_id, customer_key)
        return Side.CANDIDATE if draw < self.percent else Side.STABLE

    def backend(self, side: Side) -> Backend:
        if side is Side.CANDIDATE:
            if self.candidate is None:
                raise CanaryInvalidError(
                    f"model '{self.model}' has no candidate; its route sends every request to stable"
                )
            return self.candidate
        return self.stable

    def side_of_version(self, version: str) -> Side | None:
        """The side that serves `version` (requests pinned to a version bypass the split)."""
        if version == self.stable.version:
            return Side.STABLE
        if self.candidate is not None and version == self.candidate.version:
            return Side.CANDIDATE
        return None


class RoutingTable(BaseModel):
    """The routes of every model the gateway fronts, at one moment (a controller swaps in new tables)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    routes: tuple[Route, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> RoutingTable:
        names = [r.model for r in self.routes]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"the routing table has more than one route for model(s) {duplicated}; keep one")
        return self

    @classmethod
    def single(cls, route: Route) -> RoutingTable:
        return cls(routes=(route,))

    @property
    def models(self) -> list[str]:
        return [r.model for r in self.routes]

    def route_for(self, model: str | None) -> Route:
        """The route of `model`; with no model named (`/predict`), the table's only route."""
        if model is None:
            if len(self.routes) == 1:
                return self.routes[0]
            raise CanaryNotFoundError(
                f"the gateway fronts {len(self.routes)} models {self.models}, so a route without a model "
                "name is ambiguous; call /v2/models/{name}/infer or /v1/models/{name}:predict"
            )
        for route in self.routes:
            if route.model == model:
                return route
        raise CanaryNotFoundError(f"model '{model}' is not served by this gateway; it serves {self.models}")


def bucket(canary_id: str, customer_key: str) -> float:
    """Where a customer falls in [0, 100) for a canary release: uniform, and fixed for the pair."""
    digest = hashlib.sha256(f"{canary_id}\x00{customer_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _BUCKET_SPACE * 100.0
