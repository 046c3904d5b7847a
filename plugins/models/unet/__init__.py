"""A 2D U-Net trained with Dice + cross-entropy on pixel labels (fully supervised baseline).

The model and its options are in ``model.py``; registered through the ``pathogan_bench`` entry-point group.
"""

from __future__ import annotations

from pathogan_bench.plugin import hookimpl

from .model import UNetModel

__all__ = ["UNetModel"]


@hookimpl
def register_models() -> list[type]:
    return [UNetModel]
