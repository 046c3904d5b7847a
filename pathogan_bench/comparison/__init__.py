"""Comparing models on identical patients, slices and metrics: finished runs side by side, or train-and-compare."""

from .models import compare_models
from .summary import ComparedRun, seed_summary
from .tables import compare_runs, comparison_table, load_summary

__all__ = ["ComparedRun", "compare_models", "compare_runs", "comparison_table", "load_summary", "seed_summary"]
