"""Baselines to compare PathoGAN with, on the same data and metrics.

- ``cyclegan`` (weak): the plain CycleGAN; segments by the difference between
  an image and its healthy translation, thresholded without pixel labels.
- ``mdgru`` (full): multi-dimensional gated recurrent units, the paper's
  fully supervised reference.
- ``unet`` (full): a 2D U-Net trained with Dice + cross-entropy.
- ``threshold`` (none): a FLAIR intensity threshold fitted on healthy slices.

One module per model, each with its configuration dataclass; see
docs/BASELINES.md for the decision rules and where the defaults come from.
"""

from __future__ import annotations

from pathogan_bench.plugin import Spec, hookimpl


@hookimpl
def register_models() -> list[Spec]:
    from .cyclegan import CycleGAN
    from .mdgru import MDGRUModel
    from .threshold import ThresholdModel
    from .unet import UNetModel

    return [Spec(model.name, model) for model in (CycleGAN, MDGRUModel, UNetModel, ThresholdModel)]
