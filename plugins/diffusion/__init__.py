"""Diffusion-model baselines: weakly supervised anomaly segmentation by healthy reconstruction.

- ``diffusion-guided`` (weak): a denoising diffusion model of healthy and
  pathological slices plus a noisy-image classifier (Wolleb et al. 2022);
  a slice is DDIM-encoded to a noise level and decoded with classifier
  guidance towards healthy.
- ``anoddpm`` (healthy): a diffusion model of healthy slices with simplex
  noise (Wyatt et al. 2022); a slice is partially noised and reconstructed.

Both segment by the difference between a slice and its healthy version,
thresholded without pixel labels (see ``common.DifferenceModel``). Networks
and schedulers come from ``diffusers``, imported only when a model is built.
See docs/BASELINES.md for the options, their sources and every deviation from
the papers.
"""

from __future__ import annotations

from pathogan_bench.plugin import Spec, hookimpl


@hookimpl
def register_models() -> list[Spec]:
    from .anoddpm import AnoDDPM
    from .guided import DiffusionGuided

    return [Spec(model.name, model) for model in (DiffusionGuided, AnoDDPM)]
