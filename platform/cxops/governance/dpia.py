"""Data protection impact assessments (DPIA): one note per model, checked against what the model reads.

A model spec names its note (`privacy.dpia`, e.g. `policies/dpia/churn.md`): a Markdown file whose YAML
front-matter records the assessment (categories of personal data, risks, the DPO's decision, when it
must be reviewed again). `check_dpia` says whether a model may rely on its note: the note exists,
parses, is approved, is not past its review date, and lists every personal-data category the model's
Feast features are tagged with or its spec declares. Feast is imported only when a tabular model's
features are read, so importing this module stays cheap.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cxops.config import Settings
from cxops.errors import CXOpsError
from cxops.governance.errors import GovernanceError
from cxops.specs import ModelSpec, list_specs, load_spec

if TYPE_CHECKING:
    from cxops.features import Definitions

__all__ = [
    "DpiaError",
    "DpiaRecord",
    "DpiaState",
    "DpiaStatus",
    "DpoSignoff",
    "Risk",
    "check_dpia",
    "dpia_status",
    "load_dpia",
    "model_data_categories",
]

DpiaState = Literal["ok", "missing", "invalid", "not_approved", "expired", "uncovered"]
SPEC_SOURCE = "spec"
"""The source named for a text model's categories, which come from its spec rather than from Feast."""
_FRONT_MATTER = "---"


class DpiaError(GovernanceError):
    """A model's DPIA note is missing, has no front-matter, or does not match the DPIA format (422)."""

    status_code = 422


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Risk(_Strict):
    risk: str = Field(min_length=1)
    mitigation: str = Field(min_length=1)


class DpoSignoff(_Strict):
    """The data protection officer's decision on the assessment."""

    name: str = Field(min_length=1)
    date: dt.date
    decision: Literal["approved", "rejected", "pending"]


class DpiaRecord(_Strict):
    """The front-matter of a DPIA note."""

    model: str
    title: str
    controller: str
    purpose: str
    lawful_basis: str
    data_categories: list[str] = Field(min_length=1)
    """Personal-data categories processed: every category the model's features are tagged with and its spec
    declares (`privacy.personal_data_categories`)."""
    special_categories: str
    """Special categories (GDPR art. 9) processed, or `none` with the reason."""
    data_subjects: str
    retention: str
    automated_decision: bool
    """Whether a decision with legal or similarly significant effect is taken without a person (art. 22)."""
    risks: list[Risk] = Field(min_length=1)
    dpo_signoff: DpoSignoff
    review_date: date

    @model_validator(mode="after")
    def _review_after_signoff(self) -> DpiaRecord:
        if self.review_date <= self.dpo_signoff.date:
            raise ValueError(
                f"review_date {self.review_date} is not after the DPO sign-off of {self.dpo_signoff.date}"
            )
        return self


@dataclass
class DpiaStatus:
    """Whether one model's DPIA holds; `state` is the first problem in the order of `DpiaState`."""

    model: str
    path: Path
    state: DpiaState = "ok"
    problems: list[str] = field(default_factory=list)
    """Every problem found, each with what to do about it."""
    review_date: date | None = None
    missing_categories: list[str] = field(default_factory=list)
    """Categories the model's features carry, or its spec declares, that the note's `data_categories` does
    not list."""

    @property
    def ok(self) -> bool:
        return self.state == "ok"


def _note_path(spec: ModelSpec, settings: Settings) -> Path:
    return settings.root / spec.privacy.dpia


def _front_matter(text: str) -> str | None:
    """The YAML between a leading `---` line and the next one, or None when the note has none."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != _FRONT_MATTER:
        return None
    for end, line in enumerate(lines[1:], start=1):
        if line.strip() == _FRONT_MATTER:
            return "\n".join(lines[1:end])
    return None


def _readable(exc: ValidationError) -> str:
    def where(loc: tuple) -> str:
        return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "(top)"

    return "; ".join(f"{where(e['loc'])}: {e['msg']}" for e in exc.errors())


def load_dpia(spec: ModelSpec, settings: Settings) -> DpiaRecord:
    """The front-matter of the model's DPIA note, validated; `DpiaError` says what is wrong and the fix."""
    path = _note_path(spec, settings)
    scope = f"DPIA note {spec.privacy.dpia} of model '{spec.name}'"
    if not path.is_file():
        raise DpiaError(
            f"{scope} does not exist in {settings.root}; write it (policies/dpia/churn.md shows the format) "
            f"or point privacy.dpia in models/{spec.name}/spec.yaml at the right file"
        )
    raw = _front_matter(path.read_text(encoding="utf-8"))
    if raw is None:
        raise DpiaError(
            f"{scope} has no front-matter; start the file with a YAML block between two '---' lines "
            "(model, title, controller, purpose, lawful_basis, data_categories, ..., review_date)"
        )
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise DpiaError(f"{scope}: the front-matter is not valid YAML ({exc}); fix its syntax") from exc
    if not isinstance(data, dict):
        raise DpiaError(
            f"{scope}: the front-matter must be a YAML mapping of fields, not {type(data).__name__}"
        )
    try:
        record = DpiaRecord.model_validate(data)
    except ValidationError as exc:
        raise DpiaError(
            f"{scope} is invalid: {_readable(exc)}; fix these fields of the front-matter"
        ) from exc
    if record.model != spec.name:
        raise DpiaError(f"{scope} is about model '{record.model}'; set its 'model' to '{spec.name}'")
    return record


def _feature_categories(spec: ModelSpec, definitions: Definitions) -> dict[str, list[str]]:
    from cxops.features import for_spec

    features = for_spec(spec, definitions)
    found: dict[str, list[str]] = {}
    entities = [features.entity] + ([features.item_entity] if features.item_entity is not None else [])
    for entity in entities:
        if category := entity.tags.get("data_category"):
            found.setdefault(category, []).append(entity.name)
    # The service's projections, not the whole views: a service may serve only some of a view's fields.
    for projection in features.service.feature_view_projections:
        for feature in projection.features:
            if category := feature.tags.get("data_category"):
                found.setdefault(category, []).append(f"{projection.name}.{feature.name}")
    return found


def _spec_categories(spec: ModelSpec) -> dict[str, list[str]]:
    return {category: [SPEC_SOURCE] for category in spec.privacy.personal_data_categories}


def model_data_categories(spec: ModelSpec, settings: Settings) -> dict[str, list[str]]:
    """Personal-data category -> the Feast entities and `view.field`s of the model tagged with it.

    A text model has no Feast features: its categories are the spec's own, each mapped to `["spec"]`.
    """
    if spec.features is None:
        return _spec_categories(spec)
    from cxops.features import load_definitions

    return _feature_categories(spec, load_definitions(settings.feature_repo_dir))


def _check(
    spec: ModelSpec, settings: Settings, today: date, categories: dict[str, list[str]] | CXOpsError
) -> DpiaStatus:
    status = DpiaStatus(model=spec.name, path=_note_path(spec, settings))
    note = spec.privacy.dpia
    states: list[DpiaState] = []
    try:
        record = load_dpia(spec, settings)
    except DpiaError as exc:
        status.state = "missing" if not status.path.is_file() else "invalid"
        status.problems.append(str(exc))
        return status
    status.review_date = record.review_date

    signoff = record.dpo_signoff
    if signoff.decision != "approved":
        states.append("not_approved")
        status.problems.append(
            f"DPIA note {note}: the DPO's decision is '{signoff.decision}' ({signoff.name}, "
            f"{signoff.date}); model '{spec.name}' needs an approved assessment: revise it and have the DPO "
            "record dpo_signoff.decision: approved"
        )
    if record.review_date < today:
        states.append("expired")
        status.problems.append(
            f"DPIA note {note}: its review was due on {record.review_date} "
            f"({(today - record.review_date).days} days ago); review the assessment, have the DPO sign it "
            "off again and set a new review_date"
        )
    if isinstance(categories, CXOpsError):
        states.append("uncovered")
        status.problems.append(
            f"model '{spec.name}': the personal-data categories of its features could not be read, so "
            f"coverage by {note} is unknown: {categories}"
        )
    else:
        # What the spec declares counts too: the recommendation server reads consent online, outside
        # the feature service, and only the spec says so.
        required = {c: categories.get(c, [SPEC_SOURCE]) for c in [*categories, *_spec_categories(spec)]}
        missing = sorted(set(required) - set(record.data_categories))
        if missing:
            states.append("uncovered")
            status.missing_categories = missing
            carriers = "; ".join(f"{c}: {', '.join(required[c])}" for c in missing)
            status.problems.append(
                f"DPIA note {note} does not list the categories {missing} that model '{spec.name}' "
                f"processes ({carriers}); add them to data_categories with their risks, or stop processing "
                "them"
            )
    if states:
        status.state = states[0]
    return status


def check_dpia(spec: ModelSpec, settings: Settings, today: date | None = None) -> DpiaStatus:
    """Whether the model's DPIA holds today (or on `today`); every problem found is in `problems`."""
    try:
        categories: dict[str, list[str]] | CXOpsError = model_data_categories(spec, settings)
    except CXOpsError as exc:  # a broken feature repository blocks the gate rather than passing it
        categories = exc
    return _check(spec, settings, today or date.today(), categories)


def dpia_status(settings: Settings, today: date | None = None) -> list[DpiaStatus]:
    """`check_dpia` for every model with a spec, reading the feature repository once."""
    today = today or date.today()
    definitions: Definitions | CXOpsError | None = None
    statuses = []
    for name in list_specs(settings):
        spec = load_spec(name, settings)
        categories: dict[str, list[str]] | CXOpsError
        if spec.features is None:
            categories = _spec_categories(spec)
        else:
            if definitions is None:
                from cxops.features import load_definitions

                try:
                    definitions = load_definitions(settings.feature_repo_dir)
                except CXOpsError as exc:
                    definitions = exc
            if isinstance(definitions, CXOpsError):
                categories = definitions
            else:
                try:
                    categories = _feature_categories(spec, definitions)
                except CXOpsError as exc:
                    categories = exc
        statuses.append(_check(spec, settings, today, categories))
    return statuses
