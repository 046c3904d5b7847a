"""The plain CycleGAN baseline (weakly supervised): segments by the difference to its healthy translation.

The model and its options are in ``model.py``; registered through the ``pathogan_bench`` entry-point group.
"""

from __future__ import annotations

from pathogan_bench.plugin import hookimpl

from .model import CycleGAN

__all__ = ["CycleGAN"]


@hookimpl
def register_models() -> list[type]:
    return [CycleGAN]
