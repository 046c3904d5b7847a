"""AnoDDPM (Wyatt et al. 2022): a diffusion model of healthy slices with simplex noise.

The model and its options are in ``model.py``; registered through the ``pathogan_bench`` entry-point group.
"""

from __future__ import annotations

from pathogan_bench.plugin import hookimpl

from .model import AnoDDPM

__all__ = ["AnoDDPM"]


@hookimpl
def register_models() -> list[type]:
    return [AnoDDPM]
