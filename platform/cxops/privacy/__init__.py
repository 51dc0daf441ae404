"""Privacy controls applied to data before it is stored: keyed pseudonyms for customer identifiers."""

from cxops.privacy.pseudonymise import (
    MIN_KEY_BYTES,
    PREFIX,
    pseudonymise,
    pseudonymise_frame,
    pseudonymise_series,
)
from cxops.privacy.text_pii import (
    PLACEHOLDERS,
    PiiKind,
    PiiLogFilter,
    PiiMatch,
    count_pii,
    find_pii,
    mask_pii,
    mask_series,
)

__all__ = [
    "MIN_KEY_BYTES",
    "PREFIX",
    "pseudonymise",
    "pseudonymise_frame",
    "pseudonymise_series",
    "PLACEHOLDERS",
    "PiiKind",
    "PiiLogFilter",
    "PiiMatch",
    "count_pii",
    "find_pii",
    "mask_pii",
    "mask_series",
]
