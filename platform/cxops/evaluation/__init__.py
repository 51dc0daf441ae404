"""Evaluation: metrics on held-out rows, bias by segment, release-threshold checks and the model card.

Binary (tabular) models and multi-class text models both go through `evaluate`; text models are also
compared with a TF-IDF baseline (`tfidf_baseline`).
"""

from cxops.evaluation.baseline import BASELINE_NAME, tfidf_baseline
from cxops.evaluation.bias import SegmentReport, TextSegmentReport, segment_report, text_segment_report
from cxops.evaluation.metrics import binary_metrics, lift_at, reliability_bins
from cxops.evaluation.model_card import BASELINE_WARNING, ModelCardFiles, write_model_card
from cxops.evaluation.multiclass import multiclass_metrics
from cxops.evaluation.ranking import (
    RANKING_BASELINE_WARNING,
    CooccurrenceBaseline,
    PopularityBaseline,
    RankingReport,
    evaluate_ranking,
    ranking_metrics,
    write_ranking_card,
)
from cxops.evaluation.report import (
    EvaluationReport,
    TextEvaluationReport,
    ThresholdCheck,
    check_thresholds,
    evaluate,
)

__all__ = [
    "BASELINE_NAME",
    "BASELINE_WARNING",
    "RANKING_BASELINE_WARNING",
    "CooccurrenceBaseline",
    "EvaluationReport",
    "ModelCardFiles",
    "PopularityBaseline",
    "RankingReport",
    "SegmentReport",
    "TextEvaluationReport",
    "TextSegmentReport",
    "ThresholdCheck",
    "binary_metrics",
    "check_thresholds",
    "evaluate",
    "evaluate_ranking",
    "lift_at",
    "multiclass_metrics",
    "ranking_metrics",
    "reliability_bins",
    "segment_report",
    "text_segment_report",
    "tfidf_baseline",
    "write_model_card",
    "write_ranking_card",
]
