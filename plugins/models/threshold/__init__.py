"""The FLAIR intensity threshold fitted on healthy slices: the floor a learned model must beat.

The model and its options are in ``model.py``; registered through the ``pathogan_bench`` entry-point group.
"""

from __future__ import annotations

from pathogan_bench.plugin import hookimpl

from .model import ThresholdModel

__all__ = ["ThresholdModel"]


@hookimpl
def register_models() -> list[type]:
    return [ThresholdModel]
