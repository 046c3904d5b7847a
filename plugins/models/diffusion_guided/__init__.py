"""Classifier-guided DDIM (Wolleb et al. 2022), weakly supervised anomaly segmentation.

The model and its options are in ``model.py``; registered through the ``pathogan_bench`` entry-point group.
"""

from __future__ import annotations

from pathogan_bench.plugin import hookimpl

from .model import DiffusionGuided

__all__ = ["DiffusionGuided"]


@hookimpl
def register_models() -> list[type]:
    return [DiffusionGuided]
