"""pathogan-bench-tv: a total-variation loss term on PathoGAN's label maps.

An example of a third-party plugin: nothing in pathogan-bench knows about
this package; its entry point in the ``pathogan_bench`` group is enough.
"""

from __future__ import annotations

import torch

from pathogan_bench.plugin import LossTerm, Spec, hookimpl
from pathogan_bench_plugins.models.pathogan import TranslationStep


def total_variation(label: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels of (B,1,H,W) maps."""
    dy = (label[..., 1:, :] - label[..., :-1, :]).abs().mean()
    dx = (label[..., :, 1:] - label[..., :, :-1]).abs().mean()
    return dx + dy


def tv() -> LossTerm:
    """Total variation of both label maps (l_A, l_B): favours compact, smooth lesion maps."""

    def term(step: TranslationStep) -> torch.Tensor:
        return total_variation(step.l_a) + total_variation(step.l_b)

    return term


@hookimpl
def register_loss_terms():
    return [Spec("tv", tv, "Total variation of both label maps (compact, smooth lesion maps)")]
