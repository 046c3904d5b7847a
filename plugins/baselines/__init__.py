"""Baselines to compare PathoGAN with, on the same data and metrics.

- ``cyclegan`` (weak): the plain CycleGAN; segments by the difference between
  an image and its healthy translation, thresholded without pixel labels.
- ``mdgru`` (full): multi-dimensional gated recurrent units, the paper's
  fully supervised reference.
- ``unet`` (full): a 2D U-Net with Dice + cross-entropy.
- ``threshold`` (none): a FLAIR intensity threshold fitted on healthy slices.
"""

from __future__ import annotations

from pathogan_bench.hookspecs import hookimpl
from pathogan_bench.registry import Spec


@hookimpl
def register_models():
    from .cyclegan import CycleGAN
    from .mdgru import MDGRUModel
    from .threshold import ThresholdModel
    from .unet import UNetModel

    return [
        Spec(m.name, m, tags={"supervision": m.supervision})
        for m in (CycleGAN, MDGRUModel, UNetModel, ThresholdModel)
    ]
