"""``threshold``: no training; a FLAIR intensity threshold fitted on healthy slices.

The floor any learned method must beat: whole tumour (oedema included) is
bright in FLAIR, so flag what is brighter than nearly all healthy brain.
``calibrate`` sets t to the ``percentile`` (default 99.5) of FLAIR
intensities over the brain pixels of healthy validation slices; no pixel
label is read. ``segment`` returns sigmoid((FLAIR - t) / ``softness``)
inside the brain and 0 outside, so a probability of 0.5 is the threshold
itself. The FLAIR channel is found by name in the run's modalities
(``flair`` or ``t2f``); without one the first channel is used.

Images are normalised to zero mean and std 1/3 inside the brain and clipped
to [-1, 1]: if more than 100 - ``percentile`` % of healthy brain pixels are
clipped at 1, t is 1 and clipped tumour pixels sit exactly at probability 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from pathogan_bench.plugin import ModelContext, SegmentationModel, hookimpl
from pathogan_bench_plugins.shared.training import brain_mask, check_positive, percentile

FLAIR_NAMES = ("flair", "t2f")
UNCALIBRATED = 2.0


@dataclass
class ThresholdConfig:
    #: percentile of healthy FLAIR brain intensities that becomes the threshold
    percentile: float = 99.5
    #: width of the sigmoid around the threshold, in normalised intensity units
    softness: float = 0.02
    #: accepted so that presets setting a width for every model apply; unused
    width: float = 1.0

    def check(self) -> None:
        check_positive(self, "softness")
        if not 0 < self.percentile <= 100:
            raise ValueError(f"percentile = {self.percentile}: expected a number in (0, 100]")


def flair_channel(modalities: tuple[str, ...]) -> int:
    """Index of the FLAIR channel among ``modalities``, or 0 if there is none."""
    names = [m.lower() for m in modalities]
    return next((i for i, name in enumerate(names) if name in FLAIR_NAMES), 0)


class ThresholdModel(SegmentationModel):
    """FLAIR intensity threshold fitted on healthy slices (no training)."""

    name = "threshold"
    supervision = "none"
    trainable = False
    config_class = ThresholdConfig
    config: ThresholdConfig
    intensity_threshold: torch.Tensor  # a buffer, registered in __init__

    def __init__(self, ctx: ModelContext, **options: Any):
        super().__init__(ctx, **options)
        self.channel = flair_channel(ctx.modalities)
        #: the fitted intensity threshold t; above the intensity range, so nothing is flagged until calibrated
        self.register_buffer("intensity_threshold", torch.tensor(UNCALIBRATED, device=ctx.device))

    @torch.no_grad()
    def calibrate(self, healthy: torch.Tensor) -> None:
        """Fit t on healthy images alone: the configured percentile of FLAIR inside the brain."""
        flair = healthy[:, self.channel]
        inside = flair[brain_mask(healthy)]
        if inside.numel():
            self.intensity_threshold.fill_(percentile(inside, self.config.percentile))

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        return {}

    @torch.no_grad()
    def segment(self, images: torch.Tensor) -> torch.Tensor:
        """sigmoid((FLAIR - t) / softness) inside the brain, 0 outside; 0.5 marks the threshold."""
        flair = images[:, self.channel].float()
        probability = torch.sigmoid((flair - self.intensity_threshold) / self.config.softness)
        return probability * brain_mask(images)


@hookimpl
def register_models() -> list[type]:
    return [ThresholdModel]
