"""Raw-data validation with Great Expectations, driven by the model spec.

`validate(frame, spec, report_dir)` checks a coerced raw frame (`cxops.data.loaders.coerce`) against the
expectation suite the spec describes and writes a JSON artifact and a Markdown summary. Values of personal
data columns are never echoed: their checks report counts only. For text models the suite also checks the
messages' language, exact duplicates and personal data, and that the labels belong to one label set; their
report carries a counts-only profile of the messages (`TextProfile`).

Importing this package is cheap; Great Expectations (~6 s to import) loads on the first `validate` call.
"""

from cxops.validation._labels import label_set
from cxops.validation.report import ExpectationFailure, TextProfile, ValidationReport
from cxops.validation.validate import NULL_FRACTION_COLUMN, personal_columns, validate

__all__ = [
    "NULL_FRACTION_COLUMN",
    "ExpectationFailure",
    "TextProfile",
    "ValidationReport",
    "label_set",
    "personal_columns",
    "validate",
]
