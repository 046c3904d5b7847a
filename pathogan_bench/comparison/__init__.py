"""Comparing models on identical patients, slices and metrics: finished runs side by side, or train-and-compare."""

from .models import compare_models
from .runs import ComparedRun, LoadedRun, load_run, seed_summary
from .tables import compare_runs, comparison_table

__all__ = ["ComparedRun", "LoadedRun", "compare_models", "compare_runs", "comparison_table", "load_run", "seed_summary"]
