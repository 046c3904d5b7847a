"""``threshold``: no training; a FLAIR intensity threshold fitted on healthy slices.

The floor any learned method must beat. ``calibrate`` takes the
``percentile`` (default 99.5) of FLAIR intensities inside the brain of
healthy slices; ``segment`` returns sigmoid((FLAIR - t) / softness), so a
probability of 0.5 is the threshold itself. Without a FLAIR channel the first
channel is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from pathogan_bench.model import ModelContext, SegmentationModel

BACKGROUND = -1.0 + 1e-3


@dataclass
class ThresholdConfig:
    percentile: float = 99.5
    softness: float = 0.02
    width: float = 1.0  # accepted for a uniform interface; unused


class ThresholdModel(SegmentationModel):
    """FLAIR intensity threshold fitted on healthy slices (no training)."""

    name: ClassVar[str] = "threshold"
    supervision = "none"
    trainable = False

    def __init__(self, ctx: ModelContext, **options: Any):
        super().__init__()
        self.config = ThresholdConfig(**options)
        modalities = [m.lower() for m in ctx.modalities]
        self.channel = modalities.index("flair") if "flair" in modalities else 0
        self.register_buffer("intensity", torch.tensor(1.0))

    def calibrate(self, healthy: torch.Tensor) -> None:
        flair = healthy[:, self.channel]
        brain = flair[flair > BACKGROUND]
        if brain.numel():
            self.intensity.copy_(torch.quantile(brain.float()[:1_000_000], self.config.percentile / 100))

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        return {}

    @torch.no_grad()
    def segment(self, images: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid((images[:, self.channel].float() - self.intensity) / self.config.softness)
