"""The outcome of validating a dataset: what failed, on how many rows, and where the artifact lies."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from cxops.errors import ValidationFailedError

__all__ = ["MAX_EXAMPLES", "ExpectationFailure", "TextProfile", "ValidationReport"]

MAX_EXAMPLES = 5
WITHHELD = "withheld (personal data)"


class ExpectationFailure(BaseModel):
    """One unmet expectation. Columns holding personal data never carry examples or observed values."""

    model_config = ConfigDict(frozen=True)

    expectation: str
    """The Great Expectations expectation type, e.g. `expect_column_values_to_be_in_set`."""
    check: str
    """Its short name in reports, e.g. `allowed values`."""
    column: str | None = None
    unexpected_count: int | None = None
    """Rows that broke the expectation (row-wise checks only)."""
    unexpected_percent: float | None = None
    """`unexpected_count` as a percentage of all rows."""
    observed: str | None = None
    """What a table- or column-level check saw (row count, dtype, null fraction)."""
    examples: list[Any] = []
    """Up to five offending values, most frequent first; always empty for personal data."""
    personal: bool = False
    error: str | None = None
    """Why the check could not run, when it could not."""

    def _examples_text(self) -> str:
        if self.personal:
            return WITHHELD
        if self.error:
            return self.error
        return ", ".join(repr(v) for v in self.examples)

    def _rows_text(self) -> str:
        if self.unexpected_count is None:
            return f"observed {self.observed}" if self.observed is not None else "-"
        percent = f" ({self.unexpected_percent:.2f}%)" if self.unexpected_percent is not None else ""
        # Share checks (language, label set) count rows and say in `observed` what the count means.
        observed = f"; {self.observed}" if self.observed is not None else ""
        return f"{self.unexpected_count:,}{percent}{observed}"


class TextProfile(BaseModel):
    """What a batch of messages looks like, in counts and ratios only: never a message or part of one."""

    model_config = ConfigDict(frozen=True)

    column: str
    rows: int
    messages: int
    """Rows with a message (the rest are empty)."""
    languages: dict[str, int]
    """Messages per language (ISO 639-1 code), most frequent first; `unknown` where it could not be told."""
    language_sources: dict[str, int]
    """Where each message's language came from: the row's `language` column, detection, or neither."""
    expected_languages: list[str]
    in_language_share: float | None
    """Share of the messages with a known language that are in `expected_languages`."""
    length_percentiles: dict[str, float]
    """Characters per message: min, p05, p25, p50, p75, p95, max."""
    blank: int
    """Messages with nothing but whitespace."""
    duplicates: int
    """Messages that repeat an earlier one exactly."""
    duplicate_share: float
    pii_messages: int
    """Messages carrying at least one piece of personal data (masked before use)."""
    pii_share: float
    pii_by_kind: dict[str, int]
    """Messages carrying each kind (email, iban, card, phone, ip); one message may count under several."""
    label_set: str | None = None
    """Which labels the suite checked: `spec` (the label column's categories) or `real_dataset`."""
    label_set_size: int | None = None

    def markdown(self) -> list[str]:
        def share(value: float | None) -> str:
            return "-" if value is None else f"{value:.2%}"

        languages = ", ".join(f"{code} {count:,}" for code, count in self.languages.items()) or "-"
        sources = ", ".join(f"{source} {count:,}" for source, count in self.language_sources.items())
        lengths = ", ".join(f"{key} {value:,.0f}" for key, value in self.length_percentiles.items()) or "-"
        kinds = ", ".join(f"{kind} {count:,}" for kind, count in self.pii_by_kind.items())
        labels = "-" if self.label_set is None else f"`{self.label_set}` ({self.label_set_size} labels)"
        rows = [
            ("rows", f"{self.rows:,} ({self.messages:,} with a message, {self.blank:,} blank)"),
            ("languages", languages),
            ("language from", sources),
            (f"in {', '.join(self.expected_languages)}", f"{share(self.in_language_share)} of known"),
            ("length (characters)", lengths),
            ("exact duplicates", f"{self.duplicates:,} ({share(self.duplicate_share)})"),
            ("with personal data", f"{self.pii_messages:,} ({share(self.pii_share)}): {kinds}"),
            ("label set", labels),
        ]
        return [
            f"## Text profile (`{self.column}`)",
            "",
            "Counts and ratios only: message texts are personal data and never appear in this report.",
            "",
            "| measure | value |",
            "| --- | --- |",
            *(f"| {name} | {value} |" for name, value in rows),
            "",
        ]


class ValidationReport(BaseModel):
    """Result of `validate`: the JSON artifact at `report_path` holds this report and GX's own result."""

    model_config = ConfigDict(frozen=True)

    model: str
    suite: str
    success: bool
    rows: int
    evaluated_expectations: int
    successful_expectations: int
    failures: list[ExpectationFailure]
    report_path: Path
    """JSON artifact (kept by the pipeline)."""
    summary_path: Path
    """Short Markdown summary beside it."""
    validated_at: datetime
    great_expectations_version: str
    text_profile: TextProfile | None = None
    """Profile of the text column (text models only)."""

    @property
    def unsuccessful_expectations(self) -> int:
        return self.evaluated_expectations - self.successful_expectations

    def _headline(self) -> str:
        if self.success:
            return (
                f"dataset for model '{self.model}' meets expectation suite '{self.suite}': "
                f"{self.evaluated_expectations} expectations met on {self.rows:,} rows"
            )
        return (
            f"dataset for model '{self.model}' fails expectation suite '{self.suite}': "
            f"{self.unsuccessful_expectations} of {self.evaluated_expectations} expectations unmet "
            f"on {self.rows:,} rows"
        )

    def _rows(self) -> list[tuple[str, str, str, str, str]]:
        return [
            (f.check, f.column or "(table)", f.expectation, f._rows_text(), f._examples_text())
            for f in self.failures
        ]

    def summary(self) -> str:
        """Human-readable: which expectations failed, on how many rows, with examples where allowed."""
        lines = [self._headline()]
        if self.failures:
            header = ("check", "column", "expectation", "rows failing", "examples")
            table = [header, *self._rows()]
            widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
            for row in table:
                cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
                lines.append("  " + "  ".join([*cells, row[-1]]).rstrip())
        lines.append(f"report: {self.report_path}")
        return "\n".join(lines)

    def markdown(self) -> str:
        lines = [
            f"# Validation of `{self.suite}` ({self.model})",
            "",
            f"**{'PASSED' if self.success else 'FAILED'}**: {self._headline()}.",
            "",
            f"Validated at {self.validated_at.isoformat()} with Great Expectations "
            f"{self.great_expectations_version}. Full result: `{self.report_path.name}`.",
            "",
        ]
        if self.failures:
            lines += [
                "| check | column | expectation | rows failing | examples |",
                "| --- | --- | --- | --- | --- |",
            ]
            lines += [
                "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in self._rows()
            ]
            lines.append("")
        if self.text_profile is not None:
            lines += self.text_profile.markdown()
        return "\n".join(lines)

    def raise_if_failed(self) -> None:
        """Stop here when the data did not meet its suite (`ValidationFailedError`, HTTP 422)."""
        if self.success:
            return
        raise ValidationFailedError(
            f"{self.summary()}\nfix the data, or the schema in models/{self.model}/spec.yaml (data.columns) "
            f"if the data is right"
        )

    def write(self, great_expectations_result: dict[str, Any]) -> None:
        """Write the JSON artifact (this report plus GX's counts-only result) and the Markdown summary."""
        document = {"report": self.model_dump(mode="json"), "great_expectations": great_expectations_result}
        _write_text(self.report_path, json.dumps(document, indent=2, default=str) + "\n")
        _write_text(self.summary_path, self.markdown())


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(text)
    tmp.replace(path)  # never leave a half-written artifact behind
