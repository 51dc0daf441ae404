"""Typed request and response models of the plain JSON API, built from a model's spec.

BentoML turns these into the service's OpenAPI schema, so application teams see every input with its
type, allowed categories and range.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from cxops.specs import ModelSpec

__all__ = ["PredictionOut", "feature_row_model"]


def _no_text(value: Any) -> Any:
    # Lax pydantic would read "5" as 5; a number sent as text is a client bug worth reporting.
    if isinstance(value, str | bytes | bool):
        raise ValueError(f"expected a number, got {type(value).__name__}")
    return value


class PredictionOut(BaseModel):
    probability: float = Field(
        description="Binary models: probability of the positive class. Text models: probability (the "
        "model's confidence) of the predicted label"
    )
    label: str = Field(
        description="Predicted label: positive when probability >= threshold; else the likeliest"
    )
    threshold: float | None = Field(None, description="Decision threshold of a binary model")
    model_name: str
    model_version: str
    customer_id: str | None = None


def feature_row_model(spec: ModelSpec) -> type[BaseModel]:
    """A pydantic model of one request row: every input of the spec (`spec.inputs`), by its own name."""
    fields: dict[str, Any] = {}
    for index, col in enumerate(spec.inputs):
        if col.type == "text":
            annotation: Any = Annotated[str, Field(min_length=col.min_length or 1, max_length=col.max_length)]
        elif col.type == "category":
            annotation = Literal[tuple(col.categories or [])]
        else:
            base = int if col.type == "integer" else float
            annotation = Annotated[base, Field(ge=col.min, le=col.max), BeforeValidator(_no_text)]
        if col.nullable:
            annotation = annotation | None
        # Internal names are positional so that any column name works (even one shadowing a BaseModel
        # attribute); clients only ever see the alias.
        fields[f"f{index}"] = (
            annotation,
            Field(..., alias=col.name, title=col.name, description=col.description or None),
        )
    title = "".join(part.capitalize() for part in spec.name.split("-")) + "FeatureRow"
    return create_model(title, __config__=ConfigDict(extra="forbid", allow_inf_nan=False), **fields)
