"""Evaluation: metrics on held-out rows, bias by segment, release-threshold checks and the model card."""

from cxops.evaluation.bias import SegmentReport, segment_report
from cxops.evaluation.metrics import binary_metrics, lift_at, reliability_bins
from cxops.evaluation.model_card import ModelCardFiles, write_model_card
from cxops.evaluation.report import EvaluationReport, ThresholdCheck, check_thresholds, evaluate

__all__ = [
    "EvaluationReport",
    "ModelCardFiles",
    "SegmentReport",
    "ThresholdCheck",
    "binary_metrics",
    "check_thresholds",
    "evaluate",
    "lift_at",
    "reliability_bins",
    "segment_report",
    "write_model_card",
]
