"""Privacy controls applied to data before it is stored: keyed pseudonyms for customer identifiers."""

from cxops.privacy.pseudonymise import (
    MIN_KEY_BYTES,
    PREFIX,
    pseudonymise,
    pseudonymise_frame,
    pseudonymise_series,
)

__all__ = ["MIN_KEY_BYTES", "PREFIX", "pseudonymise", "pseudonymise_frame", "pseudonymise_series"]
