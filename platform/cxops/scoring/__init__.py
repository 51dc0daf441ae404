"""Batch scoring: raw rows in, one score per row out (the nightly path into the CRM)."""

from cxops.scoring.batch import ScoringSummary, score_file

__all__ = ["ScoringSummary", "score_file"]
