"""MDGRU, the paper's fully supervised reference: multi-dimensional gated recurrent units in 2D.

The model and its options are in ``model.py``; registered through the ``pathogan_bench`` entry-point group.
"""

from __future__ import annotations

from pathogan_bench.plugin import hookimpl

from .model import MDGRUModel

__all__ = ["MDGRUModel"]


@hookimpl
def register_models() -> list[type]:
    return [MDGRUModel]
