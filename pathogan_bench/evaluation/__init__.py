"""Scoring runs: the paper's Table 1 over pathological slices, and whole-scan scores over every slice."""

from .clinical import ClinicalScores, clinical_scores, false_positives, slice_thickness
from .scores import (
    DEFAULT_RUN_METRICS,
    PREDICTION_KEYS,
    evaluate_predictions,
    evaluate_run,
    load_predictions,
    load_run_info,
    run_spacing,
    score_and_report,
)

__all__ = [
    "DEFAULT_RUN_METRICS",
    "PREDICTION_KEYS",
    "ClinicalScores",
    "clinical_scores",
    "evaluate_predictions",
    "evaluate_run",
    "false_positives",
    "load_predictions",
    "load_run_info",
    "run_spacing",
    "score_and_report",
    "slice_thickness",
]
