"""Scoring runs: the paper's Table 1 over pathological slices, whole-scan scores over every slice, and every
threshold policy before and after post-processing, with the components a :class:`ScoringPlan` resolved once."""

from .clinical import ClinicalScores, clinical_scores, false_positives, slice_thickness
from .scores import PREDICTION_KEYS, evaluate_predictions, evaluate_run, load_predictions, score_and_report
from .scoring_plan import ScoringPlan, create_metric, plan_scoring

__all__ = [
    "PREDICTION_KEYS",
    "ClinicalScores",
    "ScoringPlan",
    "clinical_scores",
    "create_metric",
    "evaluate_predictions",
    "evaluate_run",
    "false_positives",
    "load_predictions",
    "plan_scoring",
    "score_and_report",
    "slice_thickness",
]
