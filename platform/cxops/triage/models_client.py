"""Calls to the model servers over the KServe Open Inference Protocol (V2), one model per endpoint.

    POST {url}/v2/models/{name}/infer   {"id": ..., "inputs": [{"name": "text", "datatype": "BYTES",
                                                               "shape": [1], "data": [message]}]}
    -> {"model_version": "3", "outputs": [{"name": "label", ...}, {"name": "probability", ...}]}

Every failure becomes a `ModelUnavailableError` whose `cause` is short and holds no URL or message text
(it ends up in the decision's reasons); the details go to the log. The churn model's 404 (a customer
with no features) is an `UnknownCustomerError`: an answer, not an outage.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import httpx

from cxops.privacy.text_pii import PiiLogFilter
from cxops.specs import ModelSpec
from cxops.triage._errors import ModelUnavailableError, UnknownCustomerError

__all__ = ["ModelAnswer", "ModelEndpoint", "check_ready", "infer"]

logger = logging.getLogger(__name__)
logger.addFilter(PiiLogFilter())

CUSTOMER_ID_INPUT = "customer_id"
"""The V2 input that asks a tabular model server to look a customer's features up (cxops.serving)."""


@dataclass(frozen=True)
class ModelEndpoint:
    """One model as the triage service sees it: where it is and how its V2 tensors are named."""

    role: str
    """What the model is for triage: intent, sentiment or churn."""
    url: str
    name: str
    input_name: str
    label_output: str = "label"
    score_output: str = "probability"
    labels: frozenset[str] | None = None
    """The labels the model may answer; any other is a contract error (a model of another spec)."""

    @classmethod
    def for_text(cls, spec: ModelSpec, url: str, name: str | None = None) -> ModelEndpoint:
        assert spec.text is not None, f"model '{spec.name}' is not a text model"
        return cls(
            role=spec.name,
            url=url.rstrip("/"),
            name=name or spec.name,
            input_name=spec.text.column,
            label_output=spec.serving.output_label,
            score_output=spec.serving.output_score,
            labels=frozenset(spec.label_categories),
        )

    @classmethod
    def for_customers(cls, role: str, url: str, name: str) -> ModelEndpoint:
        return cls(role=role, url=url.rstrip("/"), name=name, input_name=CUSTOMER_ID_INPUT)

    @property
    def infer_url(self) -> str:
        return f"{self.url}/v2/models/{self.name}/infer"

    @property
    def ready_url(self) -> str:
        return f"{self.url}/v2/health/ready"


@dataclass(frozen=True)
class ModelAnswer:
    label: str
    probability: float
    model_version: str


def _output(body: dict[str, Any], name: str, endpoint: ModelEndpoint) -> Any:
    for tensor in body.get("outputs") or []:
        if isinstance(tensor, dict) and tensor.get("name") == name:
            data = tensor.get("data")
            if isinstance(data, list) and len(data) == 1:
                return data[0]
            raise ModelUnavailableError(
                endpoint.role, f"malformed response: output '{name}' is not one value"
            )
    raise ModelUnavailableError(endpoint.role, f"malformed response: no output '{name}'")


def _parse(body: Any, endpoint: ModelEndpoint) -> ModelAnswer:
    if not isinstance(body, dict):
        raise ModelUnavailableError(endpoint.role, "malformed response: not a V2 inference response")
    label = _output(body, endpoint.label_output, endpoint)
    probability = _output(body, endpoint.score_output, endpoint)
    if not isinstance(label, str):
        raise ModelUnavailableError(
            endpoint.role, f"malformed response: '{endpoint.label_output}' is not text"
        )
    if (
        isinstance(probability, bool)
        or not isinstance(probability, int | float)
        or not math.isfinite(probability)
        or not 0 <= probability <= 1
    ):
        raise ModelUnavailableError(
            endpoint.role, f"malformed response: '{endpoint.score_output}' is not a probability"
        )
    if endpoint.labels is not None and label not in endpoint.labels:
        # A model trained on another label set would route by labels the policy never heard of.
        raise ModelUnavailableError(endpoint.role, f"answered label '{label}', which its spec does not know")
    return ModelAnswer(
        label=label, probability=float(probability), model_version=str(body.get("model_version", ""))
    )


async def infer(
    client: httpx.AsyncClient, endpoint: ModelEndpoint, value: str, *, request_id: str, timeout: float
) -> ModelAnswer:
    """One V2 inference of `value` (a message or a customer id) with a per-call `timeout` in seconds."""
    payload = {
        "id": request_id,
        "inputs": [{"name": endpoint.input_name, "datatype": "BYTES", "shape": [1], "data": [value]}],
    }
    try:
        response = await client.post(
            endpoint.infer_url, json=payload, timeout=timeout, headers={"X-Request-ID": request_id}
        )
    except httpx.TimeoutException:
        logger.warning("request %s: %s model at %s timed out", request_id, endpoint.role, endpoint.url)
        raise ModelUnavailableError(endpoint.role, f"timed out after {timeout:g} s") from None
    except httpx.TransportError as exc:
        logger.warning(
            "request %s: %s model at %s unreachable: %s",
            request_id,
            endpoint.role,
            endpoint.url,
            type(exc).__name__,
        )
        raise ModelUnavailableError(endpoint.role, "unreachable") from None
    if response.status_code == 404 and endpoint.input_name == CUSTOMER_ID_INPUT:
        raise UnknownCustomerError(f"the {endpoint.role} model does not know the customer")
    if response.status_code != 200:
        # The model server's error message may quote the input: log its status, never its text.
        logger.warning(
            "request %s: %s model at %s answered HTTP %d",
            request_id,
            endpoint.role,
            endpoint.url,
            response.status_code,
        )
        raise ModelUnavailableError(endpoint.role, f"answered HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        raise ModelUnavailableError(endpoint.role, "malformed response: not JSON") from None
    return _parse(body, endpoint)


async def check_ready(client: httpx.AsyncClient, endpoint: ModelEndpoint, *, timeout: float) -> str:
    """`ready`, or why not (`unreachable`, `timed out`, `not ready (HTTP 503)`), from /v2/health/ready."""
    try:
        response = await client.get(endpoint.ready_url, timeout=timeout)
    except httpx.TimeoutException:
        return f"timed out after {timeout:g} s"
    except httpx.TransportError:
        return "unreachable"
    return "ready" if response.status_code == 200 else f"not ready (HTTP {response.status_code})"
