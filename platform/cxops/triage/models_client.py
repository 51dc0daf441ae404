"""Calls to the model servers, one model per endpoint: over the KServe Open Inference Protocol (V2), or
for a text model optionally over its batched route (`text_route="batched"`, see `TriageSettings`).

    POST {url}/v2/models/{name}/infer   {"id": ..., "inputs": [{"name": "text", "datatype": "BYTES",
                                                               "shape": [1], "data": [message]}]}
    -> {"model_version": "3", "outputs": [{"name": "label", ...}, {"name": "probability", ...}]}

    POST {url}/classify                 {"texts": [message]}
    -> [{"label": "...", "probability": 0.93, "model_name": "intent", "model_version": "3", ...}]

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
from cxops.triage.settings import TextRoute

__all__ = ["BATCHED_ROUTE", "ModelAnswer", "ModelEndpoint", "check_ready", "infer"]

logger = logging.getLogger(__name__)
logger.addFilter(PiiLogFilter())

CUSTOMER_ID_INPUT = "customer_id"
"""The V2 input that asks a tabular model server to look a customer's features up (cxops.serving)."""

BATCHED_ROUTE = "/classify"
"""A text model server's route that merges concurrent requests into one batch (serving/service.py)."""


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
    route: TextRoute = "v2"
    """`batched`: a text model asked on its batched route (`BATCHED_ROUTE`) instead of V2."""

    @classmethod
    def for_text(
        cls, spec: ModelSpec, url: str, name: str | None = None, route: TextRoute = "v2"
    ) -> ModelEndpoint:
        assert spec.text is not None, f"model '{spec.name}' is not a text model"
        return cls(
            role=spec.name,
            url=url.rstrip("/"),
            name=name or spec.name,
            input_name=spec.text.column,
            label_output=spec.serving.output_label,
            score_output=spec.serving.output_score,
            labels=frozenset(spec.label_categories),
            route=route,
        )

    @classmethod
    def for_customers(cls, role: str, url: str, name: str) -> ModelEndpoint:
        return cls(role=role, url=url.rstrip("/"), name=name, input_name=CUSTOMER_ID_INPUT)

    @property
    def infer_url(self) -> str:
        if self.route == "batched":
            return f"{self.url}{BATCHED_ROUTE}"
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


def _v2_answer(body: Any, endpoint: ModelEndpoint) -> tuple[Any, Any, Any]:
    if not isinstance(body, dict):
        raise ModelUnavailableError(endpoint.role, "malformed response: not a V2 inference response")
    label = _output(body, endpoint.label_output, endpoint)
    probability = _output(body, endpoint.score_output, endpoint)
    return label, probability, body.get("model_version", "")


def _batched_answer(body: Any, endpoint: ModelEndpoint) -> tuple[Any, Any, Any]:
    """The one prediction of a batched-route answer (`[{"label": ..., "probability": ..., ...}]`)."""
    if not isinstance(body, list) or len(body) != 1 or not isinstance(body[0], dict):
        raise ModelUnavailableError(endpoint.role, "malformed response: not one prediction")
    prediction = body[0]
    # The path names no model (V2's does), so the answer's own name is checked instead.
    if prediction.get("model_name") != endpoint.role:
        raise ModelUnavailableError(
            endpoint.role, f"answered for model '{prediction.get('model_name')}', not '{endpoint.role}'"
        )
    for key in ("label", "probability"):
        if key not in prediction:
            raise ModelUnavailableError(endpoint.role, f"malformed response: no '{key}'")
    return prediction["label"], prediction["probability"], prediction.get("model_version", "")


def _parse(body: Any, endpoint: ModelEndpoint) -> ModelAnswer:
    if endpoint.route == "batched":
        label, probability, model_version = _batched_answer(body, endpoint)
        label_name, score_name = "label", "probability"
    else:
        label, probability, model_version = _v2_answer(body, endpoint)
        label_name, score_name = endpoint.label_output, endpoint.score_output
    if not isinstance(label, str):
        raise ModelUnavailableError(endpoint.role, f"malformed response: '{label_name}' is not text")
    if (
        isinstance(probability, bool)
        or not isinstance(probability, int | float)
        or not math.isfinite(probability)
        or not 0 <= probability <= 1
    ):
        raise ModelUnavailableError(endpoint.role, f"malformed response: '{score_name}' is not a probability")
    if endpoint.labels is not None and label not in endpoint.labels:
        # A model trained on another label set would route by labels the policy never heard of.
        raise ModelUnavailableError(endpoint.role, f"answered label '{label}', which its spec does not know")
    return ModelAnswer(label=label, probability=float(probability), model_version=str(model_version))


def _payload(endpoint: ModelEndpoint, value: str, request_id: str) -> dict[str, Any]:
    if endpoint.route == "batched":
        return {"texts": [value]}
    return {
        "id": request_id,
        "inputs": [{"name": endpoint.input_name, "datatype": "BYTES", "shape": [1], "data": [value]}],
    }


async def infer(
    client: httpx.AsyncClient, endpoint: ModelEndpoint, value: str, *, request_id: str, timeout: float
) -> ModelAnswer:
    """One inference of `value` (a message or a customer id) with a per-call `timeout` in seconds."""
    try:
        response = await client.post(
            endpoint.infer_url,
            json=_payload(endpoint, value, request_id),
            timeout=timeout,
            headers={"X-Request-ID": request_id},
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
