"""Where a served recommendation model gets a customer's data: Feast online (features, consent) and the
churn model's server (risk)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pandas as pd
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cxops.config import Settings
from cxops.recommendation.recommender import ConsentRecord
from cxops.specs import ModelSpec

__all__ = ["FeastCustomers", "RecommendationServingSettings", "RemoteChurn"]


class RecommendationServingSettings(BaseSettings):
    """`CXOPS_RECOMMENDATION_*`: where the churn model answers, and how long to wait for it."""

    model_config = SettingsConfigDict(env_prefix="CXOPS_RECOMMENDATION_", extra="ignore")

    churn_url: str | None = None
    """Base URL of the churn model's server (V2); unset: churn risk unknown, no retention offers."""
    churn_timeout_s: float = Field(2.0, gt=0, le=30)


class FeastCustomers:
    """A customer's (customer, offer) inputs and consent record from the Feast online store."""

    def __init__(self, spec: ModelSpec, settings: Settings) -> None:
        self.spec = spec
        self.settings = settings
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:  # first request: keeps start-up fast and free of the feature store
            from cxops.features import FeatureStoreClient

            self._client = FeatureStoreClient(self.settings)
        return self._client

    def pairs(self, customer_pid: str, offer_ids: list[str]) -> pd.DataFrame:
        return self.client.online_pairs(self.spec, customer_pid, offer_ids)

    def consent(self, customer_pid: str) -> ConsentRecord | None:
        row = self.client.online_view("customer_consent", self.spec.features.join_key, [customer_pid]).iloc[0]
        marketing, opt_out = row.get("marketing_consent"), row.get("profiling_opt_out")
        if marketing is None or pd.isna(marketing):
            return None
        return ConsentRecord(marketing_consent=marketing == "Yes", profiling_opt_out=opt_out == "Yes")


class RemoteChurn:
    """The churn probability of a customer from the churn model's V2 route; (None, why) when unknown."""

    def __init__(self, url: str, timeout_s: float = 2.0, model_name: str = "churn") -> None:
        from cxops.triage.models_client import ModelEndpoint

        self.endpoint = ModelEndpoint.for_customers("churn", url, model_name)
        self.timeout_s = timeout_s

    def __call__(self, customer_id: str) -> tuple[float | None, str | None]:
        """The lookup, from synchronous code (the recommender runs in a worker thread)."""
        return asyncio.run(self.probability(customer_id))

    async def probability(self, customer_id: str) -> tuple[float | None, str | None]:
        import httpx

        from cxops.triage._errors import ModelUnavailableError, UnknownCustomerError
        from cxops.triage.models_client import infer

        try:
            async with httpx.AsyncClient() as client:
                answer = await infer(
                    client, self.endpoint, customer_id, request_id=str(uuid.uuid4()), timeout=self.timeout_s
                )
        except UnknownCustomerError:
            return None, "the churn model has no features for the customer"
        except ModelUnavailableError as exc:
            return None, f"churn model {exc.cause}"
        return answer.probability, None
