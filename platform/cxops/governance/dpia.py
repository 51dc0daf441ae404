"""Data protection impact assessments (DPIA): one note per model, checked against what the model reads.

A model spec names its note (`privacy.dpia`, e.g. `policies/dpia/churn.md`): a Markdown file whose YAML
front-matter records the assessment (categories of personal data, risks, the DPO's decision, when it
must be reviewed again). `check_dpia` says whether a model may rely on its note: the note exists,
parses, is approved, is not past its review date, and lists every personal-data category the model's
Feast features are tagged with or its spec declares. Feast is imported only when a tabular model's
features are read, so importing this module stays cheap.

The DPO signs a note with `sign_dpia` (`cxops dpia sign`): only its `dpo_signoff:` and `review_date:` lines
are rewritten, and the audit log keeps the SHA-256 of the note as signed. Given the metadata store,
`check_dpia` compares the note with its last recorded sign-off, so an edit made after it does not keep the
approval.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cxops.config import Settings
from cxops.errors import CXOpsError
from cxops.governance.errors import GovernanceError, GovernanceInputError
from cxops.specs import ModelSpec, list_specs, load_spec

if TYPE_CHECKING:
    from cxops.features import Definitions
    from cxops.governance.identity import Actor
    from cxops.governance.service import Governance
    from cxops.registry import Registry

__all__ = [
    "DpiaError",
    "DpiaRecord",
    "DpiaState",
    "DpiaStatus",
    "DpoSignoff",
    "Risk",
    "SIGNED_ACTION",
    "check_dpia",
    "dpia_status",
    "load_dpia",
    "model_data_categories",
    "note_sha256",
    "sign_dpia",
]

DpiaState = Literal["ok", "missing", "invalid", "not_approved", "expired", "uncovered"]
SPEC_SOURCE = "spec"
"""The source named for a text model's categories, which come from its spec rather than from Feast."""
_FRONT_MATTER = "---"
SIGNED_ACTION = "dpia.signed"
"""The audit action of a DPO sign-off recorded by `sign_dpia`."""
Decision = Literal["approved", "rejected"]


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
    signed_unchanged: bool | None = None
    """Whether the note is byte for byte what the DPO last signed (`cxops dpia sign`); None when no metadata
    store was consulted or no sign-off of the model is recorded there."""

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


def _scope(spec: ModelSpec) -> str:
    return f"DPIA note {spec.privacy.dpia} of model '{spec.name}'"


def load_dpia(spec: ModelSpec, settings: Settings) -> DpiaRecord:
    """The front-matter of the model's DPIA note, validated; `DpiaError` says what is wrong and the fix."""
    path = _note_path(spec, settings)
    if not path.is_file():
        raise DpiaError(
            f"{_scope(spec)} does not exist in {settings.root}; write it (policies/dpia/churn.md shows the "
            f"format) or point privacy.dpia in models/{spec.name}/spec.yaml at the right file"
        )
    return _parse(path.read_text(encoding="utf-8"), spec)


def _parse(text: str, spec: ModelSpec) -> DpiaRecord:
    scope = _scope(spec)
    raw = _front_matter(text)
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


def note_sha256(path: Path) -> str:
    """SHA-256 of a note's bytes, as `sign_dpia` records it."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _last_signoff(registry: Registry, model: str) -> dict[str, Any] | None:
    """The payload of the model's last recorded sign-off (`dpia_sha256`, `signed_on`, ...), if any."""
    events = registry.audit_events(model=model, action=SIGNED_ACTION, limit=1)
    return events[0].payload if events else None


def _check(
    spec: ModelSpec,
    settings: Settings,
    today: date,
    categories: dict[str, list[str]] | CXOpsError,
    registry: Registry | None = None,
) -> DpiaStatus:
    status = DpiaStatus(model=spec.name, path=_note_path(spec, settings))
    note = spec.privacy.dpia
    states: list[DpiaState] = []
    signed = _last_signoff(registry, spec.name) if registry is not None else None
    if signed is not None and status.path.is_file():
        status.signed_unchanged = note_sha256(status.path) == signed["dpia_sha256"]
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
    if status.signed_unchanged is False:
        assert signed is not None
        states.append("not_approved")
        status.problems.append(
            f"DPIA note {note} of model '{spec.name}' was edited after its sign-off on "
            f"{signed['signed_on']}; ask the DPO to sign it again "
            f"(`cxops dpia sign {spec.name} --decision approved --review-date YYYY-MM-DD`)"
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


def check_dpia(
    spec: ModelSpec, settings: Settings, today: date | None = None, *, registry: Registry | None = None
) -> DpiaStatus:
    """Whether the model's DPIA holds today (or on `today`); every problem found is in `problems`.

    With the metadata store (`registry`), a note that differs from its last recorded sign-off is not
    approved, whatever its front-matter says; a note never signed through `sign_dpia` is judged by its
    front-matter alone."""
    try:
        categories: dict[str, list[str]] | CXOpsError = model_data_categories(spec, settings)
    except CXOpsError as exc:  # a broken feature repository blocks the gate rather than passing it
        categories = exc
    return _check(spec, settings, today or date.today(), categories, registry)


def dpia_status(
    settings: Settings, today: date | None = None, *, registry: Registry | None = None
) -> list[DpiaStatus]:
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
        statuses.append(_check(spec, settings, today, categories, registry))
    return statuses


# Signing ---------------------------------------------------------------------------------------------------


def _trailing_comment(line: str) -> str:
    """The comment closing a one-line `key: value` (with the blanks before it), kept when the value is
    replaced; YAML's own scanner says where the value ends, so a `#` inside a quoted value is not one."""
    try:
        tokens = list(yaml.scan(line))
    except yaml.YAMLError:
        return ""
    ends = [t.end_mark.index for t in tokens if not isinstance(t, yaml.BlockEndToken | yaml.StreamEndToken)]
    rest = line[max(ends, default=0) :]
    return rest if rest.lstrip().startswith("#") else ""


def _replace_key(lines: list[str], first: int, end: int, key: str, value: str, scope: str) -> None:
    """Give the top-level `key:` of the front-matter (lines[first:end]) the one-line `value`, in place.

    The value's continuation lines (a block mapping under the key) go; comment lines among them stay."""
    pattern = re.compile(rf"{re.escape(key)}[ \t]*:(?=\s|$)")
    found = [i for i in range(first, end) if pattern.match(lines[i])]
    if len(found) != 1:
        raise DpiaError(
            f"{scope}: expected one top-level '{key}:' line in the front-matter, found {len(found)}; "
            f"keep exactly one, unquoted, at the start of a line"
        )
    start = found[0]
    stop, comments = start + 1, []
    for i in range(start + 1, end):
        line = lines[i]
        if not line.strip():
            continue
        if line[0] not in " \t":
            break
        if line.lstrip().startswith("#"):
            comments.append(line)
        stop = i + 1
    body = lines[start].rstrip("\r\n")
    eol = lines[start][len(body) :] or "\n"
    blanks = [line for line in lines[start + 1 : stop] if not line.strip()]
    lines[start:stop] = [f"{key}: {value}{_trailing_comment(body)}{eol}", *comments, *blanks]


def _signed_text(text: str, signoff: DpoSignoff, review_date: date, scope: str) -> str:
    """The note with its `dpo_signoff:` and `review_date:` lines rewritten; every other line as it was."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].lstrip("\ufeff").strip() != _FRONT_MATTER:
        raise DpiaError(f"{scope} has no front-matter to sign")
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == _FRONT_MATTER), None)
    if end is None:
        raise DpiaError(f"{scope} has no closing '---' line after its front-matter")
    rendered = yaml.safe_dump(
        signoff.model_dump(), default_flow_style=True, sort_keys=False, width=1_000_000
    ).strip()
    _replace_key(lines, 1, end, "dpo_signoff", rendered, scope)
    end = next(i for i in range(1, len(lines)) if lines[i].strip() == _FRONT_MATTER)
    _replace_key(lines, 1, end, "review_date", review_date.isoformat(), scope)
    return "".join(lines)


def _write_atomically(path: Path, data: bytes) -> None:
    """Replace the file's content in one step: a reader sees the old note or the new one, never a mix."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        shutil.copymode(path, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def sign_dpia(
    gov: Governance,
    actor: Actor,
    model: str,
    *,
    decision: Decision,
    review_date: date,
    comment: str = "",
) -> DpiaRecord:
    """Record the DPO's decision on the model's DPIA note (permission `dpia.sign`).

    The note's `dpo_signoff:` becomes {name: the actor, date: today, decision} and its `review_date:` the one
    given (after today); no other byte changes. The audit event `dpia.signed` keeps the decision, the review
    date and the SHA-256 of the note as signed, with `comment` as its reason. The note is replaced in one step
    and put back as it was when the result does not parse or the audit event cannot be written."""
    from cxops.registry._audit import append_event

    role = gov.authorize(actor, "dpia.sign")
    if decision not in ("approved", "rejected"):
        raise GovernanceInputError(
            f"unknown DPIA decision {decision!r} for model '{model}'; "
            "the DPO decides 'approved' or 'rejected'"
        )
    today = gov.clock().astimezone().date()
    if review_date <= today:
        raise GovernanceInputError(
            f"review date {review_date} of the DPIA of model '{model}' is not after today ({today}); "
            "pass a future --review-date, when the assessment must be looked at again"
        )
    spec = load_spec(model, gov.settings)
    scope = _scope(spec)
    load_dpia(spec, gov.settings)  # sign only a note that parses: a broken one is fixed first
    path = _note_path(spec, gov.settings)
    original = path.read_bytes()
    signoff = DpoSignoff(name=actor.name, date=today, decision=decision)
    signed = _signed_text(original.decode("utf-8"), signoff, review_date, scope).encode("utf-8")

    def as_signed(record: DpiaRecord) -> bool:
        return record.dpo_signoff == signoff and record.review_date == review_date

    if not as_signed(_parse(signed.decode("utf-8"), spec)):
        raise DpiaError(
            f"{scope}: the rewritten dpo_signoff/review_date lines do not read back as written; "
            "write each as a plain top-level line of the front-matter"
        )
    _write_atomically(path, signed)
    try:
        record = load_dpia(spec, gov.settings)
        if not as_signed(record):
            raise DpiaError(f"{scope} changed while it was being signed; sign it again")
        payload = {
            "note": spec.privacy.dpia,
            "decision": decision,
            "signed_on": today.isoformat(),
            "review_date": review_date.isoformat(),
            "dpia_sha256": hashlib.sha256(signed).hexdigest(),
        }
        gov.registry.write(
            lambda session: append_event(
                session,
                actor=actor.name,
                role=role,
                action=SIGNED_ACTION,
                reason=comment,
                model=model,
                payload=payload,
            ),
            f"recording the DPIA sign-off of model '{model}'",
        )
    except BaseException:
        _write_atomically(path, original)  # nothing half-done: no sign-off without its audit event
        raise
    return record
