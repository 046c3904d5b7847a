"""The denoising autoencoder of Kascenas et al. (MIDL 2022): a U-Net trained on healthy slices to remove coarse noise.

The model and its options are in ``model.py``; registered through the ``pathogan_bench`` entry-point group.
"""

from __future__ import annotations

from pathogan_bench.plugin import hookimpl

from .model import DenoisingAE

__all__ = ["DenoisingAE"]


@hookimpl
def register_models() -> list[type]:
    return [DenoisingAE]
