"""Raw-data validation with Great Expectations, driven by the model spec.

`validate(frame, spec, report_dir)` checks a coerced raw frame (`cxops.data.loaders.coerce`) against the
expectation suite the spec describes and writes a JSON artifact and a Markdown summary. Values of personal
data columns are never echoed: their checks report counts only.

Importing this package is cheap; Great Expectations (~6 s to import) loads on the first `validate` call.
"""

from cxops.validation.report import ExpectationFailure, ValidationReport
from cxops.validation.validate import NULL_FRACTION_COLUMN, personal_columns, validate

__all__ = ["NULL_FRACTION_COLUMN", "ExpectationFailure", "ValidationReport", "personal_columns", "validate"]
