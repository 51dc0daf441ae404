"""The triage API's request and response bodies, shared by the service and its Python client."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cxops.triage.policy import Channel, Priority

__all__ = ["ChurnResult", "ErrorBody", "LabelResult", "TriageRequest", "TriageResult"]


class TriageRequest(BaseModel):
    """One customer message to triage. Unknown fields are refused, so a misspelt `customer_id` is an
    error rather than a silently unscored customer."""

    model_config = ConfigDict(extra="forbid", strict=True)

    message: str = Field(
        description="The customer's message, as written. Personal data: the service never logs it.",
        examples=["My internet has been down since this morning and nobody answers, I want to cancel!"],
    )
    customer_id: str | None = Field(
        None, description="The customer's id; when given, the churn model's risk informs the priority."
    )
    channel: Channel | None = Field(None, description="Where the message came from.")

    @field_validator("message")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the message is empty or blank; send the customer's text")
        return value

    @field_validator("customer_id")
    @classmethod
    def _id_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("customer_id is blank; send the customer's id or null")
        return value


class LabelResult(BaseModel):
    label: str
    confidence: float = Field(ge=0, le=1, description="The model's probability of the predicted label.")
    model_version: str


class ChurnResult(BaseModel):
    probability: float = Field(ge=0, le=1, description="Probability that the customer churns.")
    model_version: str


class TriageResult(BaseModel):
    """The decision for one message, and the model answers it rests on."""

    intent: LabelResult | None = Field(description="Null when the intent model could not be reached.")
    sentiment: LabelResult | None = Field(description="Null when the sentiment model could not be reached.")
    churn: ChurnResult | None = Field(
        description="Null when no customer was given, the customer is unknown or the churn model is "
        "unavailable (the reasons say which)."
    )
    priority: Priority
    queue: str
    escalate_to_human: bool
    reasons: list[str] = Field(description="Why: one sentence per matched rule or missing signal.")
    matched_rules: list[str] = Field(description="Names of the policy rules that matched, in policy order.")
    degraded: list[str] = Field(description="Models that could not be reached for this decision.")
    policy_version: str
    request_id: str


class ErrorBody(BaseModel):
    error: str
