"""Validate a coerced raw frame against its model's expectation suite and keep the result as an artifact."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from cxops.errors import InvalidInputError
from cxops.specs import ModelSpec
from cxops.validation._context import GXHandle, gx_handle, lock
from cxops.validation._labels import label_set
from cxops.validation._suite import CHECKS, NULL_FRACTION_COLUMN, build_suite
from cxops.validation._text import add_text_columns
from cxops.validation.report import MAX_EXAMPLES, WITHHELD, ExpectationFailure, ValidationReport

__all__ = ["NULL_FRACTION_COLUMN", "personal_columns", "validate"]

_definitions: dict[str, tuple[tuple[Any, ...], Any]] = {}
"""Suite name -> (what it was built from, its validation definition), in the process's GX context."""

# The suite runs once with counts only, so the GX result (kept in the artifact) never holds a value of
# any column; examples for columns without personal data come from a second, targeted run.
_COUNTS_ONLY: dict[str, Any] = {
    "result_format": "SUMMARY",
    "partial_unexpected_count": 0,
    "exclude_unexpected_values": True,
    "include_unexpected_rows": False,
}
# GX ranks offending values by frequency among the first `partial_unexpected_count` it fetches; fetch
# enough of them that the five examples are the most frequent distinct values, not the first five rows.
_WITH_EXAMPLES: dict[str, Any] = {
    "result_format": "SUMMARY",
    "partial_unexpected_count": 1000,
    "include_unexpected_rows": False,
}
# The only result fields kept for checks on personal data.
_COUNT_KEYS = (
    "element_count",
    "unexpected_count",
    "unexpected_percent",
    "missing_count",
    "missing_percent",
    "unexpected_percent_total",
    "unexpected_percent_nonmissing",
)


def personal_columns(spec: ModelSpec) -> set[str]:
    """Columns whose values must never appear in a report: the entity key, the pseudonymised fields and,
    for text models, the messages (free text may carry anything a customer wrote)."""
    text = {spec.text.column} if spec.text is not None else set()
    return {spec.data.entity_key, *spec.privacy.pseudonymised_fields, *text}


def validate(
    frame: pd.DataFrame, spec: ModelSpec, report_dir: Path, *, require_label: bool = True
) -> ValidationReport:
    """Check `frame` (the output of `coerce`) against `spec.data.expectation_suite`.

    Always writes `<suite>.validation.json` (this report plus GX's counts-only result) and
    `<suite>.validation.md` to `report_dir`, whether the data passes or not; call `raise_if_failed()`
    on the returned report to stop a pipeline on bad data.

    Text models (`spec.text`) are also checked for the language, exact duplicates and personal data of
    their messages, and their labels for belonging to one label set (`_labels.label_set`); the report then
    carries a counts-only profile of the messages (`ValidationReport.text_profile`).
    """
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInputError(
            f"model '{spec.name}': validate() takes a pandas DataFrame, got {type(frame).__name__}"
        )
    personal = personal_columns(spec)
    labels = _label_set(frame, spec) if require_label else None
    batch_frame = _with_null_fraction(frame, spec, require_label=require_label)
    text_profile = add_text_columns(batch_frame, spec, labels)
    handle = gx_handle()
    import great_expectations as gx

    with lock:
        definition = _definition(handle, spec, personal, require_label=require_label, label_set=labels)
        result = definition.run(batch_parameters={"dataframe": batch_frame}, result_format=_COUNTS_ONLY)
        _forget_stored_results(handle.context)
        result_json = result.to_json_dict()
        examples = _examples(handle.batch_definition, batch_frame, result_json)

    stats = result_json["statistics"]
    report_dir = Path(report_dir)
    report = ValidationReport(
        model=spec.name,
        suite=definition.suite.name,
        success=bool(result_json["success"]),
        rows=len(frame),
        evaluated_expectations=int(stats["evaluated_expectations"]),
        successful_expectations=int(stats["successful_expectations"]),
        failures=_failures(result_json["results"], rows=len(frame), examples=examples),
        report_path=report_dir / f"{definition.suite.name}.validation.json",
        summary_path=report_dir / f"{definition.suite.name}.validation.md",
        validated_at=datetime.now(UTC),
        great_expectations_version=gx.__version__,
        text_profile=text_profile,
    )
    report.write(_scrub(result_json))
    return report


def _label_set(frame: pd.DataFrame, spec: ModelSpec) -> tuple[str, list[str]] | None:
    """The label set a text model's labels are checked against; None for other models, whose label is
    checked against its categories like any category column."""
    if spec.task != "text_classification":
        return None
    labels = frame[spec.data.label] if spec.data.label in frame.columns else pd.Series(dtype=object)
    return label_set(spec, labels)


def _definition(
    handle: GXHandle,
    spec: ModelSpec,
    personal: set[str],
    *,
    require_label: bool,
    label_set: tuple[str, list[str]] | None,
) -> Any:
    """The stored suite and validation definition for this spec, rebuilt only when the spec (or the label
    set chosen for its data) changed (GX's `add_or_update` compares expectations pairwise and costs about
    a second)."""
    import great_expectations as gx

    name = spec.data.expectation_suite
    fingerprint = (
        spec.name,
        spec.data.model_dump_json(),
        spec.text.model_dump_json() if spec.text is not None else None,
        tuple(sorted(personal)),
        require_label,
        label_set[0] if label_set is not None else None,
    )
    known = _definitions.get(name)
    if known is not None and known[0] == fingerprint:
        return known[1]
    context = handle.context
    if known is not None:
        context.validation_definitions.delete(name)
        context.suites.delete(name)
    suite = context.suites.add(build_suite(spec, personal, require_label=require_label, label_set=label_set))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=name, data=handle.batch_definition, suite=suite)
    )
    _definitions[name] = (fingerprint, definition)
    return definition


def _with_null_fraction(frame: pd.DataFrame, spec: ModelSpec, *, require_label: bool) -> pd.DataFrame:
    """A copy of `frame` (positional index, so row numbers never carry identifiers) with each row's share
    of empty cells over the spec's columns. Nullable columns that are entirely empty are the ones the source
    lacks (`coerce` adds them empty) and do not count."""
    columns = [
        c.name
        for c in spec.data.columns
        if c.name in frame.columns
        and (require_label or c.name != spec.data.label)
        and not (c.nullable and frame[c.name].isna().all())
    ]
    out = frame.reset_index(drop=True)
    out[NULL_FRACTION_COLUMN] = out[columns].isna().mean(axis=1) if columns else 0.0
    return out


def _forget_stored_results(context: Any) -> None:
    # The in-memory context keeps every validation result; the artifact is the record, so drop them.
    store = context.validation_results_store
    for key in store.list_keys():
        store.remove_key(key)


def _meta(result: dict[str, Any]) -> dict[str, Any]:
    return result["expectation_config"].get("meta") or {}


def _key(result: dict[str, Any]) -> tuple[str, str | None]:
    """Each check appears once per column (or once for the table) in a suite."""
    meta = _meta(result)
    return meta.get("cxops_check", result["expectation_config"]["type"]), meta.get("cxops_column")


def _raised(result: dict[str, Any]) -> str | None:
    """The exception message when the expectation could not run (GX nests it per metric at times)."""
    info = result.get("exception_info") or {}
    entries = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    for entry in entries:
        if entry.get("raised_exception", True) and entry.get("exception_message"):
            return str(entry["exception_message"])
    return None


def _examples(
    batch_definition: Any, batch_frame: pd.DataFrame, result_json: dict[str, Any]
) -> dict[tuple[str, str | None], list[Any]]:
    """Up to five offending values per failed row-wise check on columns without personal data."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    # Empty cells need no examples: the offending value of a "not null" check is always None.
    wanted = [
        r
        for r in result_json["results"]
        if not r["success"]
        and not _meta(r).get("cxops_personal", True)
        and _raised(r) is None
        and _meta(r).get("cxops_check") != "not_null"
        and (r.get("result") or {}).get("unexpected_count")
    ]
    if not wanted:
        return {}
    # Fresh configurations (no id): GX refuses expectations that belong to the stored suite.
    configs = [
        ExpectationConfiguration(
            type=r["expectation_config"]["type"], kwargs=r["expectation_config"]["kwargs"], meta=_meta(r)
        )
        for r in wanted
    ]
    probe = gx.ExpectationSuite(name="cxops_examples", expectations=[c.to_domain_obj() for c in configs])
    batch = batch_definition.get_batch(batch_parameters={"dataframe": batch_frame})
    found = batch.validate(probe, result_format=_WITH_EXAMPLES).to_json_dict()
    examples: dict[tuple[str, str | None], list[Any]] = {}
    for r in found["results"]:
        res = r.get("result") or {}
        counts = [c["value"] for c in res.get("partial_unexpected_counts") or [] if "value" in c]
        # Unorderable mixes of values come without counts: fall back to distinct values in row order.
        values = counts or list(dict.fromkeys(_hashable(v) for v in res.get("partial_unexpected_list") or []))
        examples[_key(r)] = values[:MAX_EXAMPLES]
    return examples


def _hashable(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | None) else str(value)


def _observed(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _observed_of(result: dict[str, Any]) -> str | None:
    """What a check saw; for the share and label-set checks, which GX reports as row counts, in words."""
    meta, res = _meta(result), result.get("result") or {}
    if meta.get("cxops_check") == "language" and res.get("element_count") is not None:
        known = int(res["element_count"]) - int(res.get("missing_count") or 0)
        expected = known - int(res.get("unexpected_count") or 0)
        kwargs = result["expectation_config"]["kwargs"]
        share = f"{expected / known:.2%}" if known else "-"
        return (
            f"{share} of {known:,} messages with a known language are in {kwargs['value_set']} "
            f"(needs {kwargs['mostly']:.0%})"
        )
    if meta.get("cxops_label_set"):
        labels = result["expectation_config"]["kwargs"]["value_set"]
        return f"not in the '{meta['cxops_label_set']}' label set ({len(labels)} labels)"
    return _observed(res.get("observed_value"))


def _failures(
    results: list[dict[str, Any]], *, rows: int, examples: dict[tuple[str, str | None], list[Any]]
) -> list[ExpectationFailure]:
    failures: list[ExpectationFailure] = []
    for r in results:
        if r["success"]:
            continue
        meta, res = _meta(r), r.get("result") or {}
        personal = bool(meta.get("cxops_personal", True))
        count = res.get("unexpected_count")
        error = _raised(r)
        failures.append(
            ExpectationFailure(
                expectation=r["expectation_config"]["type"],
                check=CHECKS.get(meta.get("cxops_check", ""), r["expectation_config"]["type"]),
                column=meta.get("cxops_column"),
                unexpected_count=count,
                unexpected_percent=100.0 * count / rows if count is not None and rows else None,
                observed=None if personal else _observed_of(r),
                examples=[] if personal else examples.get(_key(r), []),
                personal=personal,
                error=(WITHHELD if personal else error) if error else None,
            )
        )
    return _collapse_missing_columns(failures)


def _collapse_missing_columns(failures: list[ExpectationFailure]) -> list[ExpectationFailure]:
    """A missing column makes each of its other checks raise; report the column once, not each check."""
    missing = {f.column for f in failures if f.check == CHECKS["present"]}
    out: list[ExpectationFailure] = []
    for f in failures:
        if f.column in missing and f.check != CHECKS["present"]:
            continue
        if f.check == CHECKS["present"]:
            skipped = sum(1 for g in failures if g.column == f.column and g.check != CHECKS["present"])
            f = f.model_copy(update={"error": f"column missing; {skipped} other checks on it could not run"})
        out.append(f)
    return out


def _scrub(result_json: dict[str, Any]) -> dict[str, Any]:
    """GX's result for the artifact: no tracebacks, and only counts for checks on personal data."""
    for r in result_json["results"]:
        personal = bool(_meta(r).get("cxops_personal", True))
        if personal and r.get("result"):
            r["result"] = {k: v for k, v in r["result"].items() if k in _COUNT_KEYS}
        r["exception_info"] = _scrub_exception(r.get("exception_info"), personal)
    return result_json


def _scrub_exception(info: Any, personal: bool) -> Any:
    if not isinstance(info, dict):
        return info
    out: dict[str, Any] = {}
    for key, value in info.items():
        if key == "exception_traceback":
            continue
        if key == "exception_message" and personal and value:
            value = WITHHELD
        out[key] = _scrub_exception(value, personal)
    return out
